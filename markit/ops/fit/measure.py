"""The archive's own handler timed in process: whole batches (decode, forward, postprocess) at a few sizes.

Each thread count runs in a fresh process (``spawn``) that opens the archive as a worker does
(``markit.offline.LocalArchive``) with ``ARCHIVE_TORCH_THREADS`` set in *its* environment (an ONNX Runtime
session takes its thread count when it loads), freezes its loaded heap as the engines do, warms up, and
times ``plan.seconds`` of batches per size (at least ``plan.min_batches``). At one thread, ``plan.side_by_side``
such processes are started together: the first times every size alone while the others wait, then all of them
time the middle size at once, which says how much slower a worker runs beside the others (memory, caches, the
machine's other load). This process imports no torch.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import MarkitError, UsageError
from ..load.body import Body
from .costs import Costs, Timing

__all__ = ["THREADS_VARIABLE", "MeasureError", "Plan", "honours_thread_override", "measure"]

THREADS_VARIABLE = "ARCHIVE_TORCH_THREADS"  # read by the run-time code an archive carries (markit.core.service)
WAIT = 600.0  # s a measuring process may wait for the others before it gives up


class MeasureError(MarkitError):
    """A measuring process failed (exit 1); the message holds its error."""


@dataclass(frozen=True)
class Plan:
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    threads: tuple[int, ...] = (1,)  # the first is timed at every size; the others at 1 and the middle size
    side_by_side: int = 1  # processes timed together at one thread (the cores); 1: not measured
    seconds: float = 1.2  # of batches per size
    warmup: float = 1.0
    min_batches: int = 5

    @property
    def middle(self) -> int:
        return self.batch_sizes[len(self.batch_sizes) // 2]


def honours_thread_override(archive: Path) -> bool:
    """Whether the run-time code inside the archive reads ``ARCHIVE_TORCH_THREADS``."""
    with zipfile.ZipFile(archive) as mar:
        return any(THREADS_VARIABLE.encode() in mar.read(name) for name in mar.namelist() if name.endswith(".py"))


@dataclass(frozen=True)
class _Job:
    archive: str
    body: bytes
    content_type: str
    threads: int
    sizes: tuple[int, ...]  # timed alone by process 0
    side_size: int | None  # timed by every process together, after the barrier
    plan: Plan


def _time(predict: Callable[[], Any], seconds: float, at_least: int) -> tuple[float, ...]:
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < at_least:
        started = time.perf_counter()
        predict()
        times.append(time.perf_counter() - started)
    return tuple(times)


def _warm(predict: Callable[[], Any], seconds: float) -> None:
    _time(predict, seconds, 2)


def _measure_in_child(job: _Job, index: int, barrier: Any, results: Any) -> None:
    """One measuring process: its timings, or its error, put on ``results`` as ``(index, kind, value)``."""
    os.environ[THREADS_VARIABLE] = str(job.threads)  # this process's own environment, read as the archive opens
    try:
        from markit.core.service import freeze_loaded_heap
        from markit.offline import LocalArchive, LocalRequest

        with LocalArchive(Path(job.archive)) as local:
            freeze_loaded_heap()
            request = LocalRequest.raw(job.body, job.content_type)
            refused = [response for response in local.predict([request]) if response.status != 200]
            if refused:
                results.put((index, "refused", (refused[0].status, str(refused[0].body)[:300])))
                barrier.abort()
                return
            alone: dict[int, tuple[float, ...]] = {}
            if index == 0:
                _warm(lambda: local.predict([request] * max(job.sizes)), job.plan.warmup)
                for size in job.sizes:
                    local.predict([request] * size)
                    alone[size] = _time(lambda size=size: local.predict([request] * size), job.plan.seconds, job.plan.min_batches)
            together: tuple[float, ...] = ()
            if job.side_size is not None:
                batch = [request] * job.side_size
                barrier.wait(WAIT)  # process 0 is done alone
                _warm(lambda: local.predict(batch), job.plan.warmup)
                barrier.wait(WAIT)
                together = _time(lambda: local.predict(batch), job.plan.seconds, job.plan.min_batches)
            results.put((index, "timed", (alone, together)))
    except Exception as err:  # noqa: BLE001 -- reported to the parent, which raises it as a MarkitError
        results.put((index, "failed", f"{type(err).__name__}: {err}"))
        barrier.abort()


def _run(job: _Job, processes: int) -> list[tuple[dict[int, tuple[float, ...]], tuple[float, ...]]]:
    """Start ``processes`` measuring processes for ``job``; each one's (alone, together) timings, by index."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    children = [context.Process(target=_measure_in_child, args=(job, index, barrier, results), daemon=True)
                for index in range(processes)]
    for child in children:
        child.start()
    try:
        outcomes = _collect(results, children)
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()
    return [outcomes[index] for index in range(processes)]


def _collect(results: Any, children: list[Any]) -> dict[int, Any]:
    outcomes: dict[int, Any] = {}
    while len(outcomes) < len(children):
        try:
            index, kind, value = results.get(timeout=1.0)
        except queue.Empty:
            dead = [child.exitcode for child in children if child.exitcode not in (None, 0)]
            if dead:
                raise MeasureError(f"a measuring process died (exit code {dead[0]}); its error is above") from None
            continue
        if kind == "refused":
            status, body = value
            raise UsageError(f"the archive answered the body with HTTP {status}: {body}; give a body it accepts with "
                             "--body FILE [--content-type TYPE]")
        if kind == "failed" and "BrokenBarrierError" not in value:
            raise MeasureError(f"measuring the handler in process failed: {value}")
        outcomes[index] = value
    return outcomes


def measure(archive: Path, body: Body, plan: Plan, progress: Callable[[str], None] = print) -> Costs:
    """The handler's costs with ``body``: every size at ``plan.threads[0]``, the others at 1 and the middle size."""
    first, *others = plan.threads
    side = plan.middle if plan.side_by_side > 1 else None
    job = _Job(str(archive), body.data, body.content_type, first, tuple(plan.batch_sizes), side, plan)
    outcomes = _run(job, plan.side_by_side if side is not None else 1)
    alone, _ = outcomes[0]
    timings = [Timing(first, size, times) for size, times in alone.items()]
    progress(f"  {first} thread(s), alone: " + ", ".join(f"batch {t.batch_size} {1000 * t.median:.1f} ms" for t in timings))
    crowding = 1.0
    if side is not None:
        medians = [statistics.median(times) for _, times in outcomes]
        crowding = max(1.0, statistics.fmean(medians) / statistics.median(alone[side]))
        progress(f"  {plan.side_by_side} processes side by side, batch {side}: {1000 * statistics.fmean(medians):.1f} ms each, "
                 f"{crowding:.2f}x alone")
    for threads in others:
        sizes = tuple(sorted({1, plan.middle}))
        (timed, _), = _run(_Job(str(archive), body.data, body.content_type, threads, sizes, None, plan), 1)
        extra = [Timing(threads, size, times) for size, times in timed.items()]
        timings += extra
        progress(f"  {threads} thread(s), alone: " + ", ".join(f"batch {t.batch_size} {1000 * t.median:.1f} ms" for t in extra))
    return Costs(tuple(timings), side_by_side=crowding, side_by_side_processes=plan.side_by_side if side is not None else 1)
