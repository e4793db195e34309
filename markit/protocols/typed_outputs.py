"""Typed v2 outputs: what each task's answer holds, as tensors a standard client reads without parsing JSON.

Every v2 answer carries ``answer`` (BYTES, one JSON answer per instance: the ``/predictions`` answer). Beside
it a task declares typed outputs, listed in the model metadata (``-1``: any size), e.g. for a classifier
``label`` BYTES [-1, k] and ``probability`` FP32 [-1, k] (padded with "" and 0 below the threshold), for an
embedder ``embedding`` FP32 [-1, -1], for a forecaster one FP32 [-1] tensor per output with its ``unit``.

A typed output reads one row from each instance's answer. An instance whose answer has another form (a list
of texts sent as one instance answers ``results``) has no row: that request's response then carries only
``answer``. A request's ``outputs`` may ask for any of the declared names; unasked ones are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["TypedOutput", "top_k_outputs"]


@dataclass(frozen=True)
class TypedOutput:
    """``name`` ``datatype`` tensor of per-instance shape ``shape`` (one -1 at most: the size the rows have); ``row``
    takes one instance's answer to its flat row, or to an array of its own shape (a mask: every -1 its size), or
    None when the answer has no such row. ``pad``: flat rows of different sizes (a detector's boxes) are padded
    with it to the longest; None: they must agree."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    row: Callable[[Any], list[Any] | None]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    pad: Any = None

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": [-1, *self.shape]}

    def tensor(self, answers: Sequence[Any]) -> dict[str, Any] | None:
        """The output for a request's answers, or None when one of them has no row."""
        rows = [self._row(answer) for answer in answers]
        if not rows or any(row is None for row in rows):
            return None
        if isinstance(rows[0], np.ndarray):
            return self._arrays(rows)
        if self.pad is not None:
            width = max(len(row) for row in rows)
            rows = [row + [self.pad] * (width - len(row)) for row in rows]
        if len({len(row) for row in rows}) != 1:
            return None
        dims = self._dims(len(rows[0]))
        if dims is None:
            return None
        tensor = {"name": self.name, "shape": [len(rows), *dims], "datatype": self.datatype,
                  "data": [value for row in rows for value in row]}
        return {**tensor, "parameters": dict(self.parameters)} if self.parameters else tensor

    def _arrays(self, rows: list[Any]) -> dict[str, Any] | None:
        """Rows that are arrays of the instance's shape: all of one shape (else no output)."""
        shapes = {row.shape if isinstance(row, np.ndarray) else None for row in rows}
        shape = next(iter(shapes))
        if len(shapes) != 1 or shape is None or len(shape) != len(self.shape) \
                or any(want not in (-1, got) for want, got in zip(self.shape, shape, strict=True)):
            return None
        tensor = {"name": self.name, "shape": [len(rows), *shape], "datatype": self.datatype,
                  "data": np.stack(rows).reshape(-1).tolist()}
        return {**tensor, "parameters": dict(self.parameters)} if self.parameters else tensor

    def _dims(self, width: int) -> list[int] | None:
        """One instance's dimensions for a row of ``width`` values (None: the row does not fit the shape)."""
        fixed = math.prod(size for size in self.shape if size != -1)
        if -1 not in self.shape:
            return list(self.shape) if width == fixed else None
        if width % fixed:
            return None
        return [width // fixed if size == -1 else size for size in self.shape]

    def _row(self, answer: Any) -> list[Any] | None:
        try:
            return self.row(answer)
        except (KeyError, TypeError, IndexError):
            return None


def top_k_outputs(k: int) -> tuple[TypedOutput, TypedOutput]:
    """``label`` BYTES [-1, k] and ``probability`` FP32 [-1, k] from ``{"predictions": [{label, probability}]}``."""

    def column(key: str, pad: Any) -> Callable[[Any], list[Any]]:
        def row(answer: Any) -> list[Any]:
            values = [prediction[key] for prediction in answer["predictions"]]
            return values + [pad] * (k - len(values))

        return row

    return (TypedOutput("label", "BYTES", (k,), column("label", "")),
            TypedOutput("probability", "FP32", (k,), column("probability", 0.0)))
