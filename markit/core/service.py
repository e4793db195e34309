"""From an unpacked archive directory to the batch core that serves it over its task."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from .. import tasks
from . import golden
from .batch import BatchCore
from .errors import ArchiveError
from .handler import TaskHandler
from .loading import LoadedModel, load_model
from .unpacked import UnpackedArchive, task_part

__all__ = ["THREADS_ENV", "check_golden", "configure_threads", "create_handler", "freeze_loaded_heap", "handler_for"]

log = logging.getLogger(__name__)

THREADS_ENV = "ARCHIVE_TORCH_THREADS"
NO_MODEL = LoadedModel(forward=None, format="none")  # a task without a model of its own (a pipeline: its steps have theirs)


def create_handler(archive_dir: Path) -> BatchCore:
    """Verify the archive, set the worker's threads (``configure_threads``), load its model and return the
    batch core over its task (``BatchCore.task``). The threads come first: an ONNX Runtime session takes its
    count at load."""
    archive = UnpackedArchive.open(archive_dir)
    handler = handler_for(archive.spec.task)
    threads = configure_threads(archive)
    model = NO_MODEL if archive.spec.model is None else load_model(
        archive_dir, archive.spec.model, with_instance=handler.needs_instance, methods=handler.program_methods)
    log.info(
        "serving %s %s (%s, %s, identity %s): all %d file hashes verified",
        archive.spec.name, archive.spec.version, handler.task,
        "no model of its own" if model is NO_MODEL else f"{model.format} model", archive.manifest["identity"],
        len(archive.manifest["files"]),
    )
    return BatchCore(handler(archive, model), threads)


def check_golden(batch_core: BatchCore) -> None:
    """Replay the archive's golden examples through its batch core; ``ArchiveError`` listing the differences, so a
    worker that would answer wrongly here (another CPU, library or torch than the build's) never reports ready.
    TorchServe's entry calls it before its worker is ready; the KServe runtime replays them as it opens an archive."""
    started = time.perf_counter()
    failures = golden.replay(batch_core)
    if failures:
        raise ArchiveError("its golden examples do not reproduce here, so this worker does not serve it:\n  " + "\n  ".join(failures))
    log.info("%d golden example(s) reproduced in %.0f ms", len(batch_core.task.archive.spec.golden), (time.perf_counter() - started) * 1000)


def handler_for(task: object) -> type[TaskHandler]:
    """The handler class of ``task`` (a manifest's ``spec.task``) in this copy of the run-time code."""
    return task_part(task, tasks.handler_class)


def configure_threads(archive: UnpackedArchive, environ: Mapping[str, str] = os.environ) -> int:
    """Use the archive's ``serving.torch_threads`` so workers do not oversubscribe cores.

    A deployer whose machine differs from the one the archive was tuned on sets ``ARCHIVE_TORCH_THREADS``
    in TorchServe's environment (workers inherit it) instead of rebuilding. Returns the count used."""
    threads = archive.spec.serving.torch_threads
    override = environ.get(THREADS_ENV, "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ArchiveError(f"{THREADS_ENV}={override!r} is not a positive whole number of threads; unset it or set e.g. 1")
        log.info("%s=%s overrides the archive's serving.torch_threads %d", THREADS_ENV, override, threads)
        threads = int(override)
    torch.set_num_threads(threads)
    return threads


def freeze_loaded_heap() -> None:
    """Once the model is loaded: move every object alive now out of the garbage collector's reach.

    A loaded worker holds hundreds of thousands of objects (torch, the task, its model) that live as long as
    it does, and each full collection walks them all: measured, one such pass stalled a batch of the digit
    detector 175 ms (its p50 is 4 ms), which a closed loop shows as a p99 ten times the p50. Frozen, a
    collection walks only what requests made. The engines call it once loading is done: a TorchServe worker
    serves its one archive, the KServe runtime its whole store, so the process-wide setting is theirs."""
    gc.collect()
    gc.freeze()
