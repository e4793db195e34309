"""Loading the archive's model: eager (source + safetensors state_dict) or TorchScript.

Model source code is imported from the archive by path under a private module name, so an
installed package of the same name never replaces the code that was verified at build time.
Weights are loaded without unpickling: safetensors for eager models, ``torch.jit.load`` for
TorchScript.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from safetensors.torch import load_file

from .errors import ArchiveError

__all__ = ["import_source", "load_model", "resolve_attribute"]


def load_model(archive_dir: Path, section: Mapping[str, Any]) -> torch.nn.Module:
    """Build the model the manifest's ``spec.model`` describes, in eval mode, on the CPU."""
    fmt = section.get("format")
    if fmt == "torchscript":
        model = torch.jit.load(str(archive_dir / section["file"]), map_location="cpu")
    elif fmt == "eager":
        model = _load_eager(archive_dir, section)
    else:
        raise ArchiveError(f"manifest spec.model.format {fmt!r} is not one of ['eager', 'torchscript']")
    return model.eval()


def _load_eager(archive_dir: Path, section: Mapping[str, Any]) -> torch.nn.Module:
    module = import_source(archive_dir / section["source"])
    cls = resolve_attribute(module, section["class"])
    build = getattr(cls, section["factory"]) if section.get("factory") else cls
    model = build(**dict(section.get("kwargs") or {}))
    if not isinstance(model, torch.nn.Module):
        raise ArchiveError(f"spec.model.class {section['class']!r} built a {type(model).__name__}, not a torch.nn.Module")
    state = load_file(str(archive_dir / section["weights"]), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ArchiveError(f"weights {section['weights']!r} do not fit {section['class']!r}: {err}") from err
    return model


def import_source(path: Path) -> ModuleType:
    """Import a ``.py`` file or a package directory by path, under a name private to that path."""
    path = path.resolve()
    key = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    name = f"_archive_model_{key}"
    if name in sys.modules:
        return sys.modules[name]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not (path / "__init__.py" if path.is_dir() else path).is_file():
        raise ArchiveError(f"model source {path.name!r} is not a Python file or package in the archive")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def resolve_attribute(module: ModuleType, dotted: str) -> Any:
    """``"Net"`` or ``"submodule.Net"`` inside an imported source, importing submodules as needed."""
    target: Any = module
    for part in dotted.split("."):
        if not hasattr(target, part) and inspect.ismodule(target):
            try:
                importlib.import_module(f"{target.__name__}.{part}")
            except ImportError as err:
                raise ArchiveError(f"spec.model.class {dotted!r}: no {part!r} in the model source ({err})") from err
        if not hasattr(target, part):
            raise ArchiveError(f"spec.model.class {dotted!r}: no {part!r} in the model source")
        target = getattr(target, part)
    return target
