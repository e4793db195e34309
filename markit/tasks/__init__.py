"""Tasks: what a model does, each one folder and one registration.

A task's folder holds ``handler.py`` (its run-time handler: decode, collate, forward, postprocess; it
travels inside every archive and imports the core relatively), ``manifest.py`` (its spec type: the task's
part of the archive's manifest, ``SPEC``; travels too), ``build.py`` (its spec keys, staging and
manifest entries; build time only, never copied into an archive) and ``README.md`` (what it serves).
``common/`` holds what several tasks share (image and text preprocessing, top-k).

A task is registered by being a folder here and a name in ``BUILT_IN``, or, outside this project, by an
entry point in the ``markit.tasks`` group (``NAME = package``: an importable package laid out as above).
The builder mounts such a folder as ``markit.tasks.NAME`` (so its relative imports reach the core) and
copies it into the archive beside the built-in tasks. The builder, both engines and the description find
a task by its name through ``handler_class``, ``spec_type`` and ``build_task``; nothing else lists tasks.
Nothing is imported here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["BUILT_IN", "GROUP", "build_task", "folder", "handler_class", "known", "names", "spec_type"]

BUILT_IN = ("image_classification", "convention", "text_embedding", "text_classification", "regression", "seq2seq",
            "object_detection", "semantic_segmentation", "pipeline")
GROUP = "markit.tasks"  # entry points: NAME = an importable package holding handler.py and build.py
HERE = Path(__file__).resolve().parent


def known() -> tuple[str, ...]:
    """The tasks this copy of the package can serve: every folder here with a ``handler.py``."""
    return tuple(sorted(path.parent.name for path in HERE.glob("*/handler.py") if path.parent.name.isidentifier()))


def handler_class(name: str) -> Any:
    """The handler class serving task ``name`` (its folder's ``handler.HANDLER``); KeyError if there is none here."""
    if name not in known():
        raise KeyError(name)
    return importlib.import_module(f".{name}.handler", __name__).HANDLER


def spec_type(name: str) -> Any:
    """The type of task ``name``'s part of the manifest (its folder's ``manifest.SPEC``): a task here, or one the
    builder mounted; KeyError if no such task has one."""
    mounted = isinstance(name, str) and f"{__name__}.{name}" in sys.modules
    if not isinstance(name, str) or (name not in known() and not mounted):
        raise KeyError(name)
    try:
        return importlib.import_module(f".{name}.manifest", __name__).SPEC
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}.manifest":
            raise
        raise KeyError(f"{name}: the task has no manifest.py (its spec type, SPEC)") from err


def names() -> tuple[str, ...]:
    """Every task the builder can build: the built-in ones, then those registered by entry points."""
    return BUILT_IN + tuple(sorted(name for name in _plugins() if name not in BUILT_IN))


def folder(name: str) -> Path:
    """The folder of task ``name``: here for a built-in task, the registered package's for another."""
    if name in BUILT_IN:
        return HERE / name
    plugins = _plugins()
    if name not in plugins:
        raise KeyError(name)
    spec = importlib.util.find_spec(plugins[name])
    if spec is None or not spec.submodule_search_locations:
        raise KeyError(f"{name}: entry point {plugins[name]!r} in group {GROUP!r} is not an importable package")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def build_task(name: str) -> Any:
    """Task ``name`` as the builder knows it (its folder's ``build.TASK``); KeyError if no task has that name."""
    if not isinstance(name, str):
        raise KeyError(name)
    if name not in BUILT_IN:  # only a task from outside reads the entry points
        path = folder(name)  # KeyError when no entry point registers it
        if f"{__name__}.{name}" not in sys.modules:
            _mount(name, path)
    return importlib.import_module(f".{name}.build", __name__).TASK


def _plugins() -> dict[str, str]:
    """name -> package of every task registered by an entry point whose name can be a folder name."""
    return {point.name: point.value for point in metadata.entry_points(group=GROUP) if point.name.isidentifier()}


def _mount(name: str, path: Path) -> None:
    """Import the package at ``path`` as ``markit.tasks.NAME``, so its relative imports reach the core."""
    from ..core.importing import import_path  # the project's one path importer, all or nothing

    try:
        import_path(path, f"{__name__}.{name}")
    except FileNotFoundError as err:
        raise KeyError(f"{name}: {path} is not a package (no __init__.py)") from err
