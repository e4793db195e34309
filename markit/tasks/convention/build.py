"""Task ``convention``: the model's own class brings ``preprocess(raw) -> tensor`` and
``postprocess(output_row) -> JSON`` (docs/convention.md); the handler calls them around a batched forward.

Spec keys: none of its own (constants and data files go under ``model.artifacts``). Manifest entries: none
beyond the model's. The class must be given as source + class + weights, and must have both methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markit.tasks.convention.handler import ConventionHandler

from ...builder.errors import SpecError
from ...builder.sections import IMAGE_BUDGETS, require_methods
from ...builder.task import Task

if TYPE_CHECKING:
    from ...builder.spec import ModelSpec, Spec
    from ...builder.spec_reader import Section

__all__ = ["TASK"]


def parse(_top: Section, _spec_dir: Path, _refs: dict[str, str]) -> None:
    return None


def stage(_spec: Spec, _root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    return {}


def check_model(model: ModelSpec) -> None:
    if model.source is None:
        raise SpecError("model.source: the convention task calls the class's preprocess/postprocess, so it needs "
                        "source + class + weights (format: torchscript or export converts the forward only)")


def check_staged(_spec: Spec, staging: Path, model: Mapping[str, Any]) -> None:
    """Refuse a class without its own preprocess and postprocess, importing the staged copy."""
    require_methods(staging, model, ("preprocess", "postprocess"), "the convention task calls preprocess(raw) -> tensor "
                    "per request and postprocess(output_row) -> JSON per output (docs/convention.md)")


TASK = Task(
    name="convention",
    handler=ConventionHandler,
    required_keys=frozenset(),
    optional_keys=frozenset(),
    manifest_keys=(),
    budgets=IMAGE_BUDGETS,  # pixels: raw bytes that are an image, before the model's preprocess opens them
    parse=parse,
    stage=stage,
    hint="the model's own preprocess/postprocess run; pass constants and data files as model.artifacts",
    check_model=check_model,
    check_staged=check_staged,
)
