"""Strict reading of one mapping of the YAML spec, shared by the spec's common sections and every task's.

Every message starts with the dotted key (``preprocess.mean: expected 3 numbers for RGB, got 1``), and an
unknown key gets a "did you mean". File references are resolved against the spec's directory and
recorded, so the manifest can say which file each key named.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any

from .errors import SpecError
from .paths import resolve_reference

__all__ = ["PYTHON_NAME", "Section", "check_json", "read_file"]

PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class Section:
    """One mapping of the spec, read strictly; ``prefix`` is its dotted key for messages."""

    def __init__(self, data: Any, prefix: str, required: set[str] = frozenset(), optional: set[str] = frozenset()) -> None:
        if not isinstance(data, dict):
            where = prefix or "the spec"
            raise SpecError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
        self.data = data
        self.prefix = prefix
        if required or optional:
            self.allow(set(required), set(optional))

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def allow(self, required: set[str], optional: set[str]) -> None:
        known = required | optional
        for name in self.data:
            if name not in known:
                close = difflib.get_close_matches(str(name), sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(known))}"
                raise SpecError(f"{self.key(str(name))}: unknown key{hint}")
        self.need(*sorted(required))

    def need(self, *names: str) -> None:
        for name in names:
            if name not in self.data or self.data[name] is None:
                raise SpecError(f"{self.key(name)}: required key is missing")

    def section(self, name: str, optional: bool = False) -> Section:
        value = self.data.get(name)
        if value is None and optional:
            value = {}
        return Section(value, self.key(name))

    def optional(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        if value is not None and not isinstance(value, kind):
            raise SpecError(f"{self.key(name)}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    def string(self, name: str) -> str:
        value = self.data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise SpecError(f"{self.key(name)}: expected a non-empty string, got {value!r}")
        return value

    def matching(self, name: str, pattern: re.Pattern, hint: str, allow_number: bool = False) -> str:
        value = self.data.get(name)
        if allow_number and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not pattern.match(value):
            raise SpecError(f"{self.key(name)}: {value!r} is not valid ({hint})")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value not in choices:
            raise SpecError(f"{self.key(name)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"{self.key(name)}: expected a number, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.key(name)}: expected a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise SpecError(f"{self.key(name)}: must be {bound}, got {value}")
        return value

    def numbers(self, name: str, count: int, why: str) -> tuple[float, ...]:
        value = self.data.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not ok:
            raise SpecError(f"{self.key(name)}: expected a list of {count} numbers {why}, got {value!r}")
        if len(value) != count:
            raise SpecError(f"{self.key(name)}: expected {count} numbers {why}, got {len(value)}")
        return tuple(float(v) for v in value)

    def size(self, name: str, allow_int: bool) -> int | tuple[int, int] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if allow_int and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            return (value[0], value[1])
        raise SpecError(f"{self.key(name)}: expected a positive integer (shorter side) or [height, width], got {value!r}")


def read_file(section: Section, key: str, spec_dir: Path, refs: dict[str, str]) -> Path:
    reference = section.string(key)
    refs[section.key(key)] = reference
    return resolve_reference(reference, spec_dir, section.key(key))


def check_json(value: Any, key: str) -> None:
    """Metadata and expected outputs go into JSON: refuse what JSON cannot hold (dates, NaN, ...)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{key}: must be plain JSON data (quote dates, no NaN): {err}") from err
