"""From an unpacked archive directory to the task handler that serves it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .base import TaskHandler
from .convention import ConventionHandler
from .errors import ArchiveError
from .image_classifier import ImageClassifier
from .model_loading import load_model
from .regression import Regressor
from .sequence_generator import SequenceGenerator
from .text_classifier import TextClassifier
from .text_embedding import TextEmbedder
from .unpacked_archive import UnpackedArchive

__all__ = ["HANDLERS", "THREADS_ENV", "configure_threads", "create_handler"]

log = logging.getLogger(__name__)

THREADS_ENV = "ARCHIVE_TORCH_THREADS"

# the run-time registry, by manifest spec.task (markit.builder.tasks names the same handlers at build time)
HANDLERS: dict[str, type[TaskHandler]] = {
    handler.task: handler
    for handler in (ImageClassifier, ConventionHandler, TextEmbedder, TextClassifier, Regressor, SequenceGenerator)
}


def create_handler(archive_dir: Path) -> TaskHandler:
    """Verify the archive, set the worker's threads (``configure_threads``), load its model and return
    the handler for its task. The threads come first: an ONNX Runtime session takes its count at load."""
    archive = UnpackedArchive.open(archive_dir)
    task = archive.spec.get("task")
    if task not in HANDLERS:
        raise ArchiveError(f"manifest spec.task {task!r} has no handler here; known tasks: {sorted(HANDLERS)}")
    configure_threads(archive)
    handler = HANDLERS[task]
    model = load_model(archive_dir, archive.spec["model"], with_instance=handler.needs_instance, methods=handler.program_methods)
    log.info(
        "serving %s %s (%s, %s model, identity %s): all %d file hashes verified",
        archive.spec["name"], archive.spec["version"], task, model.format, archive.manifest["identity"], len(archive.manifest["files"]),
    )
    return handler(archive, model)


def configure_threads(archive: UnpackedArchive, environ: Mapping[str, str] = os.environ) -> int:
    """Use the archive's ``serving.torch_threads`` (default 1) so workers do not oversubscribe cores.

    A deployer whose machine differs from the one the archive was tuned on sets ``ARCHIVE_TORCH_THREADS``
    in TorchServe's environment (workers inherit it) instead of rebuilding. Returns the count used."""
    threads = int(archive.spec.get("serving", {}).get("torch_threads", 1))
    override = environ.get(THREADS_ENV, "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ArchiveError(f"{THREADS_ENV}={override!r} is not a positive whole number of threads; unset it or set e.g. 1")
        log.info("%s=%s overrides the archive's serving.torch_threads %d", THREADS_ENV, override, threads)
        threads = int(override)
    torch.set_num_threads(threads)
    return threads
