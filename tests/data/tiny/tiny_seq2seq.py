"""A tiny real encoder-decoder (seq2seq task) used by the tests: small enough to build in a second, and one that
torch.export can export for any input length (the encoder averages embeddings instead of running a GRU)."""

import torch
from torch import nn


class TinySeq2Seq(nn.Module):
    def __init__(self, inputs: int = 6, outputs: int = 6, width: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(inputs, width)
        self.position = nn.Linear(1, width)
        self.start = nn.Embedding(outputs, width)
        self.cell = nn.GRUCell(width, width)
        self.out = nn.Linear(width, outputs)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(tokens.shape[1])[None, :] < lengths[:, None]).float()
        places = torch.arange(tokens.shape[1], dtype=torch.float32)[None, :, None] / 8
        summed = ((self.embed(tokens) + self.position(places)) * mask[:, :, None]).sum(dim=1)
        return torch.tanh(summed / lengths[:, None].float())

    def decode_step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.cell(self.start(tokens), state)
        return self.out(state), state
