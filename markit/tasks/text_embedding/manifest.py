"""Task ``text_embedding``'s part of the manifest: the archive's tokenizer and how texts become vectors."""

from __future__ import annotations

from typing import Literal

from ...core.manifest_types import SpecBase
from ..common.text import TextSettings, TokenizerSection

__all__ = ["SPEC", "TextEmbeddingSpec"]


class TextEmbeddingSpec(SpecBase):
    task: Literal["text_embedding"]
    tokenizer: TokenizerSection
    text: TextSettings


SPEC = TextEmbeddingSpec
