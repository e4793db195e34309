"""Spec sections shared by more than one task: ``postprocess`` (top-k, threshold), read straight into the
manifest's own section, ``text`` (tokenizer, pooling, length), read strictly into frozen settings, and
``typed_section``: any section read straight into its manifest type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from markit.core.errors import ArchiveError
from markit.core.limits import REQUEST_BYTES
from markit.core.loading import import_source, resolve_attribute
from markit.core.section import default_of, problems
from markit.tasks.common.classification import Postprocess
from markit.tasks.common.text import POOLINGS

from .errors import SpecError
from .spec_reader import Section, read_file

__all__ = ["IMAGE_BUDGETS", "REQUEST_BYTES", "TEXT_BUDGETS", "TextSpec", "parse_postprocess", "parse_text", "require_methods",
           "typed_section"]

# Default budgets (markit.core.budgets), which a spec's ``budgets:`` section may change.
IMAGE_BUDGETS = {"request_bytes": REQUEST_BYTES, "instances": 64, "pixels": 40_000_000}
TEXT_BUDGETS = {"request_bytes": REQUEST_BYTES, "instances": 64, "texts": 64, "text_chars": 1_000_000}


@dataclass(frozen=True)
class TextSpec:
    """Text tasks: the tokenizer file and how texts become embeddings. None = from the model's config."""

    tokenizer: Path
    max_length: int | None = None
    pooling: str | None = None
    normalize: bool | None = None


def parse_postprocess(section: Section) -> Postprocess:
    """Straight into the manifest's own section (``tasks/common/classification.py``), with its defaults."""
    section.allow(set(), {"top_k", "threshold"})
    threshold = section.number("threshold", default=default_of(Postprocess, "threshold"))
    if not 0.0 <= threshold <= 1.0:
        raise SpecError(f"{section.key('threshold')}: must be a probability from 0 to 1, got {threshold}")
    return Postprocess(top_k=section.integer("top_k", default=default_of(Postprocess, "top_k"), low=1), threshold=threshold)


def parse_text(top: Section, spec_dir: Path, refs: dict[str, str]) -> TextSpec:
    top.need("tokenizer")
    section = top.section("text", optional=True)
    section.allow(set(), {"max_length", "pooling", "normalize"})
    max_length = section.data.get("max_length")
    if max_length is not None:
        max_length = section.integer("max_length", default=0, low=1, high=8192)
    pooling = section.choice("pooling", POOLINGS, default=None) if section.data.get("pooling") is not None else None
    normalize = section.optional("normalize", bool)
    return TextSpec(
        tokenizer=read_file(top, "tokenizer", spec_dir, refs),
        max_length=max_length,
        pooling=pooling,
        normalize=normalize,
    )


def require_methods(staging: Path, model: Mapping[str, Any], methods: tuple[str, ...], why: str) -> None:
    """Refuse a staged model class without ``methods`` (``why``: what the task calls them for), importing the staged copy."""
    try:
        module = import_source(staging / model["source"])
    except Exception as err:  # the user's code: a SyntaxError, an ImportError, whatever it raises at import
        raise SpecError(f"model.source: importing {Path(model['source']).name} failed: {type(err).__name__}: {err}") from err
    try:
        cls = resolve_attribute(module, model["class"])
    except ArchiveError as err:
        raise SpecError(str(err).removeprefix("spec.")) from err
    missing = [name for name in methods if not callable(getattr(cls, name, None))]
    if missing:
        raise SpecError(f"model.class: {model['class']} has no {' and no '.join(missing)} method; {why}")


def typed_section(top: Section, key: str, kind: type[BaseModel], optional: bool = False) -> Any:
    """The spec's section ``key`` read straight into its manifest type ``kind``, so build and serve share one
    description: an unknown key is named with the closest known one, then each value is checked by the type (a
    SpecError naming the key and the problem)."""
    section = top.section(key, optional=optional)
    fields = kind.model_fields
    section.allow({name for name, info in fields.items() if info.is_required()},
                  {name for name, info in fields.items() if not info.is_required()})
    try:
        return kind.model_validate(section.data)
    except ValidationError as err:
        raise SpecError(problems(err, section.data, at=key)) from None
