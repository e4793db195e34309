"""Pure text preprocessing and pooling: the archive's own tokenizer, truncation, padding, pooling.

The tokenizer is Hugging Face ``tokenizers`` reading the archive's ``tokenizer.json`` (imported
only when a text archive is loaded). Its own padding/truncation settings are replaced by the
archive's: truncation to ``max_length`` (reported per text), no padding per text, and padding
across the whole TorchServe batch to its longest text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import ArchiveError

__all__ = ["POOLINGS", "TextEncoder", "Tokenized", "pad_batch", "pool"]

POOLINGS = ("mean", "cls", "max")


@dataclass(frozen=True)
class Tokenized:
    ids: tuple[int, ...]
    truncated: bool


class TextEncoder:
    """Tokenizes with the archive's tokenizer.json at the archive's max length."""

    def __init__(self, tokenizer_file: Path, max_length: int, pad_id: int) -> None:
        from tokenizers import Tokenizer  # only text archives need it

        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as err:  # tokenizers raises its own exception types
            raise ArchiveError(f"tokenizer {tokenizer_file.name} cannot be loaded: {err}") from err
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_id = pad_id

    @classmethod
    def from_manifest(cls, archive_dir: Path, section: Mapping[str, Any]) -> TextEncoder:
        try:
            return cls(archive_dir / section["file"], int(section["max_length"]), int(section["pad_id"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"manifest spec.tokenizer is invalid: {err!r}") from err

    def encode(self, texts: Sequence[str]) -> list[Tokenized]:
        return [Tokenized(tuple(e.ids), bool(e.overflowing)) for e in self.tokenizer.encode_batch(list(texts))]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (input_ids, attention_mask), right-padded to the longest."""
    longest = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask


def pool(token_embeddings: torch.Tensor, length: int, mode: str, normalize: bool) -> torch.Tensor:
    """One text's token embeddings (seq, hidden) -> its embedding, over its ``length`` real tokens."""
    real = token_embeddings[:length].float()
    if mode == "mean":
        vector = real.mean(dim=0)
    elif mode == "cls":
        vector = real[0]
    elif mode == "max":
        vector = real.max(dim=0).values
    else:
        raise ArchiveError(f"manifest spec.text.pooling {mode!r} is not one of {list(POOLINGS)}")
    return torch.nn.functional.normalize(vector, dim=0) if normalize else vector
