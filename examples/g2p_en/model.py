"""The GRU encoder-decoder of g2p-en (Kyubyong Park, Jongseok Kim; Apache-2.0) as a torch module.

Spelling in, pronunciation out, one character and one ARPAbet phoneme per step, no attention:
the encoder reads the word's characters and an end symbol; its last state starts the decoder, which
is fed the start symbol and then each phoneme it chose. The sequence task calls two methods
(docs/seq2seq.md): ``encode`` once per batch of words, ``decode_step`` once per step of the search over
every beam of the batch. ``port.py`` fills it with the weights g2p-en ships (checkpoint20.npz).
"""

from __future__ import annotations

import torch
from torch import nn


class GruG2P(nn.Module):
    def __init__(self, graphemes: int = 29, phonemes: int = 74, width: int = 256) -> None:
        super().__init__()
        self.enc_emb = nn.Embedding(graphemes, width)
        self.encoder = nn.GRU(width, width, batch_first=True)
        self.dec_emb = nn.Embedding(phonemes, width)
        self.decoder = nn.GRUCell(width, width)
        self.fc = nn.Linear(width, phonemes)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(words, longest) symbol ids padded on the right, each word's length -> (words, width): the
        encoder's state after each word's last symbol (a unidirectional GRU: padding after it changes nothing)."""
        outputs, _ = self.encoder(self.enc_emb(tokens))
        return outputs[torch.arange(tokens.shape[0]), lengths - 1]

    def decode_step(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(beams,) previous phoneme ids and (beams, width) states -> (beams, phonemes) logits, new states."""
        state = self.decoder(self.dec_emb(tokens), state)
        return self.fc(state), state
