"""Task ``text_classification``: zero-shot topics. Texts in, labels with probabilities out, by similarity to
descriptions of the labels embedded at build with the same encoder (docs/text.md).

Spec keys: ``tokenizer``, ``text`` (as text_embedding), ``zero_shot`` (label: description, temperature),
``postprocess`` (top-k, threshold). Manifest entries: ``tokenizer``, ``text``, ``labels``, ``postprocess``,
``zero_shot`` (the label embeddings' file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.text_classification.handler import TextClassifier

from ...builder.errors import SpecError
from ...builder.sections import TEXT_BUDGETS, PostprocessSpec, TextSpec, parse_postprocess, parse_text
from ...builder.task import Task
from ...builder.text_model import stage_label_embeddings
from ..text_embedding.build import stage_text_model

if TYPE_CHECKING:
    from ...builder.spec import Spec
    from ...builder.spec_reader import Section

__all__ = ["TASK", "TextClassificationSettings", "ZeroShotSpec"]


@dataclass(frozen=True)
class ZeroShotSpec:
    """Labels described in words; the descriptions are embedded at build and shipped."""

    labels: dict[str, str]
    temperature: float = 0.05


@dataclass(frozen=True)
class TextClassificationSettings:
    text: TextSpec
    zero_shot: ZeroShotSpec
    postprocess: PostprocessSpec


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> TextClassificationSettings:
    return TextClassificationSettings(text=parse_text(top, spec_dir, refs), zero_shot=_zero_shot(top.section("zero_shot")),
                                      postprocess=parse_postprocess(top.section("postprocess", optional=True)))


def _zero_shot(section: Section) -> ZeroShotSpec:
    section.allow({"labels"}, {"temperature"})
    labels = section.data["labels"]
    if not isinstance(labels, dict) or len(labels) < 2:
        raise SpecError(f"{section.key('labels')}: expected a mapping of two or more label: description")
    for label, description in labels.items():
        if not isinstance(label, str) or not label.strip() or not isinstance(description, str) or not description.strip():
            raise SpecError(f"{section.key('labels')}.{label}: expected a non-empty label and a description sentence")
    temperature = section.number("temperature", default=0.05)
    if temperature <= 0:
        raise SpecError(f"{section.key('temperature')}: must be > 0, got {temperature}")
    return ZeroShotSpec(labels=dict(labels), temperature=temperature)


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    entries = stage_text_model(spec, root)
    stage_label_embeddings(spec, root, entries)
    return {**entries, "postprocess": asdict(spec.settings.postprocess)}


TASK = Task(
    name="text_classification",
    handler=TextClassifier,
    required_keys=frozenset({"tokenizer", "zero_shot"}),
    optional_keys=frozenset({"text", "postprocess"}),
    manifest_keys=("tokenizer", "text", "labels", "postprocess", "zero_shot"),
    budgets=TEXT_BUDGETS,
    parse=parse,
    stage=stage,
    text=True,
    hint="give the labels and their descriptions under zero_shot",
)
