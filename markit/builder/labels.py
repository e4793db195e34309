"""Reading a label file (``index_to_name.json``: ``{"0": "tench", ...}`` or a JSON list, or one label per line) and
staging it in the archive as ``index_to_name.json``."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import SpecError

__all__ = ["LABELS_FILE", "read_labels", "stage_labels"]

LABELS_FILE = "index_to_name.json"  # in the archive: {"0": label, ...}


def read_labels(path: Path, key: str = "labels") -> list[str]:
    """Labels indexed by class; SpecError naming ``key`` when the file is not a usable label list."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{key}: {path} cannot be read as UTF-8 text: {err}") from err
    labels = _from_json(text, path, key) if path.suffix == ".json" else _from_lines(text, path, key)
    if not labels:
        raise SpecError(f"{key}: {path} holds no labels")
    return labels


def _from_json(text: str, path: Path, key: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise SpecError(f"{key}: {path} is not valid JSON: {err}") from err
    if isinstance(data, list):
        labels = data
    elif isinstance(data, dict):
        try:
            labels = [data[str(i)] for i in range(len(data))]
        except KeyError as err:
            raise SpecError(f"{key}: {path} must map every index from \"0\" to \"{len(data) - 1}\"; {err} is missing") from err
    else:
        raise SpecError(f"{key}: {path} must hold a JSON object of index -> name or a list of names")
    bad = [repr(label) for label in labels if not isinstance(label, str) or not label.strip()]
    if bad:
        raise SpecError(f"{key}: {path} has labels that are not non-empty strings: {', '.join(bad[:3])}")
    return labels


def _from_lines(text: str, path: Path, key: str) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    empty = [number for number, line in enumerate(lines, 1) if not line.strip()]
    if empty:
        raise SpecError(f"{key}: {path} line {empty[0]} is empty; give one label per line")
    return [line.strip() for line in lines]


def stage_labels(path: Path, root: Path, key: str = "labels") -> tuple[str, list[str]]:
    """The labels of ``path`` written to the archive root ``root`` as ``LABELS_FILE``: its name and the labels."""
    labels = read_labels(path, key)
    (root / LABELS_FILE).write_text(json.dumps({str(i): name for i, name in enumerate(labels)}, indent=1), encoding="utf-8")
    return LABELS_FILE, labels
