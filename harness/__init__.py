"""Private servers for tests, the demo and benchmarks: a TorchServe (``torchserve``) and a KServe runtime
(``kserve``) each in its own directory on free loopback ports (``markit.ops.ports``), with token authorization on.
Not part of the wheel. Nothing is imported here: a name below is imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"KServeRuntimeProcess": "harness.kserve", "free_port": "markit.ops.ports", "ServerError": "harness.torchserve",
          "TorchServeProcess": "harness.torchserve"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
