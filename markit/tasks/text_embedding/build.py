"""Task ``text_embedding``: texts in, one vector each out, with the model's own tokenizer (docs/text.md).

Spec keys: ``tokenizer`` (the model's tokenizer.json), ``text`` (max length, pooling, normalization, texts
per request); the model is a Hugging Face directory (``model.transformers``), converted at build. Manifest
entries: ``tokenizer``, ``text`` (and the converted encoder as ``model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.text_embedding.handler import TextEmbedder

from ...builder.sections import TEXT_BUDGETS, TextSpec, parse_text
from ...builder.task import Task
from ...builder.text_model import stage_encoder, stage_text

if TYPE_CHECKING:
    from ...builder.spec import Spec
    from ...builder.spec_reader import Section

__all__ = ["TASK", "TextEmbeddingSettings", "stage_text_model"]


@dataclass(frozen=True)
class TextEmbeddingSettings:
    text: TextSpec


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> TextEmbeddingSettings:
    return TextEmbeddingSettings(text=parse_text(top, spec_dir, refs))


def stage_text_model(spec: Spec, root: Path) -> dict[str, Any]:
    """The tokenizer, how texts become vectors, and the encoder converted on the golden texts."""
    tokenizer, text = stage_text(spec, root)
    return {"tokenizer": tokenizer, "text": text, "model": stage_encoder(spec, root, tokenizer)}


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    return stage_text_model(spec, root)


TASK = Task(
    name="text_embedding",
    handler=TextEmbedder,
    required_keys=frozenset({"tokenizer"}),
    optional_keys=frozenset({"text"}),
    manifest_keys=("tokenizer", "text"),
    budgets=TEXT_BUDGETS,
    parse=parse,
    stage=stage,
    text=True,
)
