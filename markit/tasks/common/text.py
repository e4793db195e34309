"""Pure text preprocessing and pooling: the archive's own tokenizer, truncation, padding, pooling.

The tokenizer is Hugging Face ``tokenizers`` reading the archive's ``tokenizer.json`` (imported
only when a text archive is loaded). Its own padding/truncation settings are replaced by the
archive's: truncation to ``max_length`` (reported per text), no padding per text, and padding
across the whole TorchServe batch to its longest text.

A long text costs what a ``max_length`` one does: only a prefix of it is tokenized, and the prefix
grows (x4) until its tokens provably are those of the whole text. The tokens of a prefix ``text[:cut]``
equal the whole text's up to a token that (1) belongs to a word (a pre-tokenizer split) before the
prefix's last word, which the cut may have split, and (2) ends at least ``margin`` characters before
the cut, which covers every other effect a cut can have: an added token such as ``[SEP]`` cut in two,
a combining accent cut from its letter, a lookahead of the pre-tokenizer. That holds when the
normalizer maps characters with bounded context and the pre-tokenizer splits words by local rules;
``tokenizer.json`` files using any other component (a regex ``Replace``/``Split``, or no pre-tokenizer:
one word for the whole text) are tokenized whole, as before. The kept ids and ``truncated`` are then
the tokenizer's own post-processing (truncation, special tokens) of those tokens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...core.errors import ArchiveError

__all__ = ["POOLINGS", "TextEncoder", "Tokenized", "pad_batch", "pool"]

POOLINGS = ("mean", "cls", "max")

CHARS_PER_TOKEN = 6  # the first prefix: max_length * this (English averages ~4.5 characters per BERT token)
GROWTH = 4           # an unsettled prefix is retried this many times longer
CONTEXT = 32         # characters of context a normalizer or pre-tokenizer rule may look at, beyond added tokens
# Components whose effect on a character depends only on characters near it (and, for pre-tokenizers,
# that split words by such rules); see the module docstring.
LOCAL_NORMALIZERS = frozenset({"BertNormalizer", "Lowercase", "StripAccents", "Strip", "NFC", "NFD", "NFKC", "NFKD",
                               "Nmt", "Precompiled", "Prepend", "ByteLevel"})
LOCAL_PRE_TOKENIZERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation", "Digits",
                                  "Metaspace", "ByteLevel", "UnicodeScripts", "CharDelimiterSplit"})


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
        config = self.tokenizer.to_str()
        self.sequence = Tokenizer.from_str(config)  # the same, untruncated; used without special tokens
        self.sequence.no_truncation()
        self.max_length = max_length
        self.pad_id = pad_id
        self.kept = max(max_length - self.tokenizer.num_special_tokens_to_add(is_pair=False), 0)  # a text's own tokens
        added = [token.content for token in self.tokenizer.get_added_tokens_decoder().values()]
        self.margin = CONTEXT + max(map(len, added), default=0)
        self.first_prefix = max_length * CHARS_PER_TOKEN + self.margin if _is_local(json.loads(config)) else None

    @classmethod
    def from_manifest(cls, archive_dir: Path, section: Mapping[str, Any]) -> TextEncoder:
        try:
            return cls(archive_dir / section["file"], int(section["max_length"]), int(section["pad_id"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ArchiveError(f"manifest spec.tokenizer is invalid: {err!r}") from err

    def encode(self, texts: Sequence[str]) -> list[Tokenized]:
        """Each text's first ``max_length`` token ids (special tokens included) and whether it had more:
        exactly what tokenizing the whole text and truncating gives, at the cost of a prefix."""
        texts = list(texts)
        done: dict[int, Tokenized] = {}
        size = self.first_prefix
        while len(done) < len(texts):
            pending = [i for i in range(len(texts)) if i not in done]
            cuts = [self._cut(len(texts[i]), size) for i in pending]
            encodings = self.sequence.encode_batch([texts[i][:cut] for i, cut in zip(pending, cuts, strict=True)],
                                                   add_special_tokens=False)
            for i, cut, encoding in zip(pending, cuts, encodings, strict=True):
                if cut == len(texts[i]) or self._settled(encoding, cut):
                    final = self.tokenizer.post_process(encoding)
                    done[i] = Tokenized(tuple(final.ids), bool(final.overflowing))
            size = size * GROWTH if size else None
        return [done[i] for i in range(len(texts))]

    @staticmethod
    def _cut(length: int, size: int | None) -> int:
        """The prefix to tokenize: ``size`` characters, or the whole text once that is at least half of it
        (so the prefixes tried before the whole text cost at most 2/3 of tokenizing it)."""
        return length if size is None or 2 * size > length else size

    def _settled(self, encoding: Any, cut: int) -> bool:
        """Whether the prefix's first ``kept + 1`` tokens are the whole text's (the last one shows truncation)."""
        if len(encoding.ids) <= self.kept:
            return False
        words = encoding.word_ids
        last_word, ends = words[-1], [end for _, end in encoding.offsets[: self.kept + 1]]
        return last_word is not None and all(w is not None and w < last_word for w in words[: self.kept + 1]) \
            and max(ends) <= cut - self.margin


def _is_local(config: Mapping[str, Any]) -> bool:
    """Whether a tokenizer.json's normalizer and pre-tokenizer are all of the local kinds."""
    return _all_local(config.get("normalizer"), LOCAL_NORMALIZERS) and config.get("pre_tokenizer") is not None \
        and _all_local(config["pre_tokenizer"], LOCAL_PRE_TOKENIZERS)


def _all_local(component: Mapping[str, Any] | None, local: frozenset[str]) -> bool:
    if component is None:
        return True
    kind = component.get("type")
    if kind == "Sequence":
        return all(_all_local(part, local) for part in component.get("normalizers", component.get("pretokenizers", [])))
    if component.get("use_regex") is False or component.get("split") is False:  # ByteLevel, Metaspace: one word
        return False
    return kind in local


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
