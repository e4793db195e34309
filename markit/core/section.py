"""The base of every typed manifest section (``manifest_types``): frozen, strict about keys, one default.

A ``Section`` refuses keys it does not know, cannot be changed once made, and leaves a None field out when
written (an optional section is absent, never null; ``keeps_none`` names a field whose null is a value).
``problems`` words a pydantic error as the places in the document and what is wrong there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer

__all__ = ["Section", "default_of", "problems"]


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    keeps_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _without_none(self, write: Any) -> Any:
        data = write(self)
        if not isinstance(data, dict):
            return data
        return {key: value for key, value in data.items() if value is not None or key in self.keeps_none}


def default_of(section: type[BaseModel], name: str) -> Any:
    """The default of field ``name`` of ``section``: where a reader of something else (the YAML spec) needs it too."""
    return section.model_fields[name].get_default(call_default_factory=True)


def problems(error: ValidationError, document: Any, at: str = "", limit: int = 3) -> str:
    """``spec.preprocess.mean: Field required; ...``: the first ``limit`` errors, each at its place in ``document``
    (which is found at ``at`` in what the reader knows, e.g. ``spec``).

    pydantic's place of an error in a tagged union names the tag (``spec.model.aoti.fallback``); a step the
    document does not have is such a tag and is left out, so the place is the document's own."""
    lines = []
    for item in error.errors(include_url=False)[:limit]:
        message = item["msg"].removeprefix("Value error, ")
        place = ".".join(part for part in (at, _place(item["loc"], document)) if part).replace(".[", "[")
        lines.append(f"{place or '(top)'}: {message}")
    more = error.error_count() - limit
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def _place(loc: Sequence[Any], document: Any) -> str:
    steps: list[str] = []
    here = document
    for index, step in enumerate(loc):
        if (isinstance(here, Mapping) and step in here) or (isinstance(here, list) and isinstance(step, int) and 0 <= step < len(here)):
            here = here[step]
        elif isinstance(here, Mapping) and (step in (here.get("task"), here.get("format")) or _tag(step, loc[index + 1:], here)):
            continue  # a tagged union's tag, not a step in the document
        else:
            here = None
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}" if steps else str(step))
    return "".join(steps)


def _tag(step: Any, rest: Sequence[Any], here: Mapping[str, Any]) -> bool:
    """A discriminated union's tag named by a key it does not hold (a pipeline node's ``"switch node"``): the next
    place is in the mapping itself."""
    return isinstance(step, str) and step not in here and bool(rest) and rest[0] in here
