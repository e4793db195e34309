"""Run-time package: executes inside TorchServe workers and travels inside every archive.

Only torch, numpy, Pillow and safetensors are needed here (and ``tokenizers``, imported only when a
text archive loads); build-time code lives in ``builder``.
Modules import each other relatively, so the archive can load this package under a private name.
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
from .image_classifier import ImageClassifier
from .model_loading import LoadedModel
from .service import HANDLERS, configure_threads, create_handler
from .text_classifier import TextClassifier
from .text_embedding import TextEmbedder
from .unpacked_archive import UnpackedArchive

__version__ = "0.1.0"

__all__ = [
    "HANDLERS",
    "UnpackedArchive",
    "ArchiveError",
    "BadInput",
    "ConventionHandler",
    "Decoded",
    "HandlerError",
    "ImageClassifier",
    "LoadedModel",
    "PayloadTooLarge",
    "TaskHandler",
    "TextClassifier",
    "TextEmbedder",
    "UnprocessableInput",
    "UnsupportedMediaType",
    "__version__",
    "configure_threads",
    "create_handler",
]
