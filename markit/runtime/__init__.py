"""Run-time package: executes inside TorchServe workers and travels inside every archive.

The engine-free core (``base.TaskHandler`` answering ``exchange.Request`` with ``exchange.Response``,
``protocol`` for KServe v1/v2) and TorchServe's thin adapter (``torchserve.TorchServeAdapter``). Only
torch, numpy, Pillow and safetensors are needed here (and ``tokenizers``, imported only when a text
archive loads); build-time code lives in ``markit.builder``. Modules import each other relatively, so
the archive can load this package under a private name.
"""

from .base import Decoded, TaskHandler
from .convention import ConventionHandler
from .errors import (
    ArchiveError,
    BadInput,
    HandlerError,
    PayloadTooLarge,
    UnprocessableInput,
    UnsupportedMediaType,
)
from .exchange import NO_METRICS, Metrics, Request, Response, Served
from .image_classifier import ImageClassifier
from .model_loading import LoadedModel
from .service import HANDLERS, configure_threads, create_handler
from .text_classifier import TextClassifier
from .text_embedding import TextEmbedder
from .torchserve import TorchServeAdapter
from .unpacked_archive import UnpackedArchive

__version__ = "0.1.0"

__all__ = [
    "HANDLERS",
    "NO_METRICS",
    "ArchiveError",
    "BadInput",
    "configure_threads",
    "ConventionHandler",
    "create_handler",
    "Decoded",
    "HandlerError",
    "ImageClassifier",
    "LoadedModel",
    "Metrics",
    "PayloadTooLarge",
    "Request",
    "Response",
    "Served",
    "TaskHandler",
    "TextClassifier",
    "TextEmbedder",
    "TorchServeAdapter",
    "UnpackedArchive",
    "UnprocessableInput",
    "UnsupportedMediaType",
    "__version__",
]
