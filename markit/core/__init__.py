"""The core: the typed boundary between an engine and the tasks, and what every archive's code rests on.

``exchange`` (what an engine hands in, ``Request``, and gets back, ``Response``), ``handler`` (the task
base: decode, collate, forward, postprocess, declared inputs and outputs), ``batch`` (the batch core over a
task: per-request isolation and protocol routing), ``errors`` (the exception root that maps to HTTP
statuses), ``budgets`` and ``limits`` (what one request may cost), ``manifest``, ``manifest_types``,
``section`` and ``unpacked`` (the archive's own manifest: checked at start and parsed once into typed
sections), ``loading`` (its model in any of its forms), ``service`` (unpacked archive -> handler) and
``golden`` (replaying its golden examples).

It travels inside every archive (with ``protocols``, ``tasks`` and ``engines.torchserve``) and its
modules import each other relatively, so an archive loads its own copy under a private name. It imports
no engine. Nothing is imported here: a name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ArchiveError": "errors", "BadInput": "errors", "HandlerError": "errors", "PayloadTooLarge": "errors",
    "UnprocessableInput": "errors", "UnsupportedMediaType": "errors",
    "Decoded": "handler", "TaskHandler": "handler", "BatchCore": "batch", "Failed": "batch",
    "NO_METRICS": "exchange", "Metrics": "exchange", "Request": "exchange", "Response": "exchange", "Served": "exchange",
    "LoadedModel": "loading", "configure_threads": "service", "create_handler": "service", "UnpackedArchive": "unpacked",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
