"""Run-time package: executes inside TorchServe workers and travels inside every archive.

The engine-free core (``base.TaskHandler`` answering ``exchange.Request`` with ``exchange.Response``,
``protocol`` for KServe v1/v2) and TorchServe's thin adapter (``torchserve.TorchServeAdapter``). Only
torch, numpy, Pillow and safetensors are needed here (and ``tokenizers``, imported only when a text
archive loads); build-time code lives in ``markit.builder``. Modules import each other relatively, so
the archive can load this package under a private name.

Nothing is imported here: a name below is imported on first use, so ``markit.runtime.manifest`` (the
identity and hash checks, which ``markit.ops.verify`` runs before TorchServe starts) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "ArchiveError": "errors", "BadInput": "errors", "HandlerError": "errors", "PayloadTooLarge": "errors",
    "UnprocessableInput": "errors", "UnsupportedMediaType": "errors",
    "Decoded": "base", "TaskHandler": "base",
    "NO_METRICS": "exchange", "Metrics": "exchange", "Request": "exchange", "Response": "exchange", "Served": "exchange",
    "ConventionHandler": "convention", "ImageClassifier": "image_classifier", "TextClassifier": "text_classifier",
    "TextEmbedder": "text_embedding", "LoadedModel": "model_loading",
    "HANDLERS": "service", "configure_threads": "service", "create_handler": "service",
    "TorchServeAdapter": "torchserve", "UnpackedArchive": "unpacked_archive",
}

__all__ = sorted([*_WHERE, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
