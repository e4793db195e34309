"""Task ``text_classification``'s part of the manifest: text_embedding's, the labels, their embeddings, top-k."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ...core.manifest_types import SpecBase
from ...core.section import Section
from ..common.classification import Labels, Postprocess
from ..common.text import TextSettings, TokenizerSection

__all__ = ["SPEC", "TextClassificationSpec", "ZeroShot"]


class ZeroShot(Section):
    """Label descriptions embedded at build with the archive's own encoder; scores = cosine similarity / temperature."""

    embeddings: str = Field(description="a safetensors file of one embedding per label, in label order")
    temperature: Annotated[float, Field(gt=0)] = 0.05
    descriptions: dict[str, str]


class TextClassificationSpec(SpecBase):
    task: Literal["text_classification"]
    tokenizer: TokenizerSection
    text: TextSettings
    labels: Labels
    postprocess: Postprocess
    zero_shot: ZeroShot


SPEC = TextClassificationSpec
