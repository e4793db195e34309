"""Running TorchServe on these archives: Java as the container's foreground process (``launch``), a
private, isolated TorchServe process for tests, the demo and benchmarks (``server``, ``ports``), and a
private KServe runtime beside it (``kserve_process``), the
workers-x-threads capacity check (``capacity``), the KServe storage layout (``kserve_layout``), the
reader of a ``.mar`` file's manifest and config without unpacking it (``mar_file``), and the checks that
hand an engine only what they verified (``zip_layout``, ``verify``, ``signing``, ``pins``, ``unpack``).

Nothing is imported here: a name below is imported on first use, so that ``python -m markit.ops.MODULE`` runs
a module that this package has not imported already."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"KServeRuntimeProcess": "kserve_process", "free_port": "ports", "ServerError": "server", "TorchServeProcess": "server"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
