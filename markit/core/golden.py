"""Comparing a handler's answer with a golden example's expected output.

Run-time code (it travels in archives): the builder checks golden examples with it before an archive is
published, and both engines replay them when they load an archive, before the model is ready
(``service.check_golden`` in a TorchServe worker, ``archive.open`` in the KServe runtime).

``expected`` is a partial picture of the answer: mappings compare only the keys they name, lists
compare their first ``len(expected)`` items, numbers compare within the tolerance, everything else
exactly. Differences come back as readable lines such as
``predictions[0].label: expected 'espresso', got 'cup'``.
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from .exchange import Request
from .payload import Payload

if TYPE_CHECKING:
    from .batch import BatchCore

__all__ = ["differences", "replay", "same_json"]


def replay(batch_core: BatchCore) -> list[str]:
    """Every golden example of the task's archive (``spec.golden``: an input file in the archive, the
    expected answer, a tolerance) sent as a raw body of the type its name implies, as one batch; the
    differences, each naming its input (none: all reproduce here)."""
    archive = batch_core.task.archive
    examples = archive.spec.golden
    requests = [Request(Payload({"body": (archive.directory / example.input).read_bytes()},
                                {"body": mimetypes.guess_type(example.input)[0] or "application/octet-stream"}))
                for example in examples]
    lines: list[str] = []
    for example, response in zip(examples, batch_core.answer(requests), strict=True):
        if not response.ok:
            lines.append(f"{example.input}: status {response.status}: {response.body}")
        else:
            lines += [f"{example.input}: {line}" for line in differences(example.expected, response.body, example.tolerance)]
    return lines


def differences(expected: Any, actual: Any, tolerance: float, path: str = "") -> list[str]:
    where = path or "(answer)"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        lines = []
        for key, value in expected.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in actual:
                lines.append(f"{child}: missing from the answer")
            else:
                lines += differences(value, actual[key], tolerance, child)
        return lines
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) < len(expected):
            return [f"{where}: expected a list of at least {len(expected)} items, got {actual!r}"]
        lines = []
        for index, value in enumerate(expected):
            lines += differences(value, actual[index], tolerance, f"{path}[{index}]")
        return lines
    if _is_number(expected) and _is_number(actual):
        if abs(expected - actual) > tolerance:
            return [f"{where}: expected {expected} ± {tolerance}, got {actual} (off by {abs(expected - actual):.6g})"]
        return []
    same = expected == actual and type(expected) is type(actual) if isinstance(expected, bool) else expected == actual
    return [] if same else [f"{where}: expected {expected!r}, got {actual!r}"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same_json(first: Any, second: Any, tolerance: float) -> bool:
    """Whole-value equality with numbers compared within ``tolerance`` (both directions of ``differences``)."""
    return not differences(first, second, tolerance) and not differences(second, first, tolerance)
