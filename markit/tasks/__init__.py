"""Tasks: what a model does, each one folder and one line in ``BUILT_IN``.

A task's folder holds ``handler.py`` (its run-time handler: decode, collate, forward, postprocess; it
travels inside every archive and imports the core relatively), ``build.py`` (its spec keys, staging and
manifest entries; build time only, never copied into an archive) and ``README.md`` (what it serves).
``common/`` holds what several tasks share (image and text preprocessing, top-k).

The builder, both engines and the description find a task by its name through ``handler_class`` and
``build_task``; nothing else lists tasks. Nothing is imported here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["BUILT_IN", "build_task", "handler_class", "known"]

BUILT_IN = ("image_classification", "convention", "text_embedding", "text_classification", "regression", "seq2seq")


def known() -> tuple[str, ...]:
    """The tasks this copy of the package can serve: every folder here with a ``handler.py``."""
    here = Path(__file__).resolve().parent
    return tuple(sorted(path.parent.name for path in here.glob("*/handler.py") if path.parent.name.isidentifier()))


def handler_class(name: str) -> Any:
    """The handler class serving task ``name`` (its folder's ``handler.HANDLER``); KeyError if there is none here."""
    if name not in known():
        raise KeyError(name)
    return importlib.import_module(f".{name}.handler", __name__).HANDLER


def build_task(name: str) -> Any:
    """Task ``name`` as the builder knows it (its folder's ``build.TASK``); KeyError if it has no ``build.py``."""
    if not isinstance(name, str) or not name.isidentifier() or not (Path(__file__).resolve().parent / name / "build.py").is_file():
        raise KeyError(name)
    return importlib.import_module(f".{name}.build", __name__).TASK
