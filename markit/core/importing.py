"""Importing a ``.py`` file or a package directory by path under a given module name, all or nothing.

The one path importer of the project: model sources (``model_loading.import_source``) and the
offline runner's copy of an archive's entry use it. ``engines/torchserve/entry.py`` keeps its own few lines,
because it has to load this package before it can import anything from it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_path"]


def import_path(path: Path, name: str) -> ModuleType:
    """Import ``path`` (a ``.py`` file, or a directory with ``__init__.py``) as module ``name``.

    A module of that name and its submodules are replaced; if executing the code raises, nothing of
    it stays in ``sys.modules`` and the error propagates. ``FileNotFoundError`` when there is no code."""
    init = path / "__init__.py" if path.is_dir() else path
    if not init.is_file():
        raise FileNotFoundError(f"{path} is not a Python file or a package directory")
    for stale in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
        del sys.modules[stale]
    locations = [str(path)] if path.is_dir() else None
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=locations)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{path} cannot be imported as Python code")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for partial in [key for key in sys.modules if key == name or key.startswith(name + ".")]:
            del sys.modules[partial]
        raise
    return module
