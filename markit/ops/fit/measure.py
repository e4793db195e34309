"""The archive's own handler timed in process: whole batches (decode, forward, postprocess) at a few sizes.

Each thread count runs in a fresh process (``spawn``) that opens the archive as a worker does
(``markit.offline.LocalArchive``) with ``ARCHIVE_TORCH_THREADS`` set in *its* environment (an ONNX Runtime
session takes its thread count when it loads), freezes its loaded heap as the engines do, warms up, and
times ``plan.seconds`` of batches per size (at least ``plan.min_batches``), alone.

At the first thread count it then times the middle size with ``plan.side_by_side`` workers at once, as the
engine runs its workers: TorchServe's are processes (``side_by_side_mode="processes"``: as many measuring
processes, started together, the others waiting while the first times every size alone), the KServe runtime's
are threads of one process (``"threads"``: the handler called from that many threads of the first process at
once, where anything holding the GIL serializes them). How much slower each ran than alone is the workers'
crowding (memory, caches, the GIL, the machine's other load). This process imports no torch.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import MarkitError, UsageError
from ..load.body import Body
from .costs import Costs, Timing

__all__ = ["SIDE_BY_SIDE", "THREADS_VARIABLE", "MeasureError", "Plan", "honours_thread_override", "measure"]

THREADS_VARIABLE = "ARCHIVE_TORCH_THREADS"  # read by the run-time code an archive carries (markit.core.service)
SIDE_BY_SIDE = ("processes", "threads")
WAIT = 600.0  # s a measuring process may wait for the others before it gives up

Times = tuple[float, ...]


class MeasureError(MarkitError):
    """A measuring process failed (exit 1); the message holds its error."""


@dataclass(frozen=True)
class Plan:
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8)
    threads: tuple[int, ...] = (1,)  # the first is timed at every size; the others at 1 and the middle size
    side_by_side: int = 1  # workers timed together at the first thread count (the cores); 1: not measured
    side_by_side_mode: str = "processes"  # or "threads": how the engine runs its workers (SIDE_BY_SIDE)
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
    plan: Plan
    side_size: int | None = None  # timed by the workers side by side, after the sizes alone
    side_threads: int = 1  # "threads": the callers in process 0 at once


def _time(predict: Callable[[], Any], seconds: float, at_least: int) -> Times:
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < at_least:
        started = time.perf_counter()
        predict()
        times.append(time.perf_counter() - started)
    return tuple(times)


def _together(predict: Callable[[], Any], callers: int, plan: Plan, start: Any = None) -> list[Times]:
    """``predict`` timed from ``callers`` threads at once, one tuple of times per thread: each warms up, then waits at
    ``start`` (default: a barrier of the callers; the processes' barrier when each process is one caller)."""
    start, timed = start or threading.Barrier(callers), [()] * callers

    def caller(index: int) -> None:
        _time(predict, plan.warmup, 2)
        start.wait(WAIT)
        timed[index] = _time(predict, plan.seconds, plan.min_batches)

    threads = [threading.Thread(target=caller, args=(index,), daemon=True) for index in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return list(timed)


def _measure_in_child(job: _Job, index: int, barrier: Any, results: Any) -> None:
    """One measuring process: ``(index, "timed", (alone, together))``, or its error, put on ``results``."""
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
            alone: dict[int, Times] = {}
            if index == 0:
                _time(lambda: local.predict([request] * max(job.sizes)), job.plan.warmup, 2)
                for size in job.sizes:
                    local.predict([request] * size)
                    alone[size] = _time(lambda size=size: local.predict([request] * size), job.plan.seconds, job.plan.min_batches)
            together: list[Times] = []
            if job.side_size is not None:
                batch = [request] * job.side_size
                barrier.wait(WAIT)  # process 0 is done alone
                together = _together(lambda: local.predict(batch), job.side_threads, job.plan,
                                     barrier if job.side_threads == 1 else None)
            results.put((index, "timed", (alone, together)))
    except Exception as err:  # noqa: BLE001 -- reported to the parent, which raises it as a MarkitError
        results.put((index, "failed", f"{type(err).__name__}: {err}"))
        barrier.abort()


def _run(job: _Job, processes: int) -> list[tuple[dict[int, Times], list[Times]]]:
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


def _line(threads: int, timings: list[Timing]) -> str:
    return f"  {threads} thread(s), alone: " + ", ".join(f"batch {t.batch_size} {1000 * t.median:.1f} ms" for t in timings)


def measure(archive: Path, body: Body, plan: Plan, progress: Callable[[str], None] = print) -> Costs:
    """The handler's costs with ``body``: every size at ``plan.threads[0]``, the others at 1 and the middle size, and
    the middle size with ``plan.side_by_side`` workers at once."""
    if plan.side_by_side_mode not in SIDE_BY_SIDE:
        raise ValueError(f"side_by_side_mode must be one of {', '.join(SIDE_BY_SIDE)}, got {plan.side_by_side_mode!r}")
    first, *others = plan.threads
    side = plan.middle if plan.side_by_side > 1 else None
    by_threads = plan.side_by_side_mode == "threads"
    job = _Job(str(archive), body.data, body.content_type, first, tuple(plan.batch_sizes), plan, side,
               plan.side_by_side if side is not None and by_threads else 1)
    outcomes = _run(job, plan.side_by_side if side is not None and not by_threads else 1)
    alone = outcomes[0][0]
    timings = [Timing(first, size, times) for size, times in alone.items()]
    progress(_line(first, timings))
    crowding = 1.0
    if side is not None:
        medians = [statistics.median(times) for _, together in outcomes for times in together]
        crowding = max(1.0, statistics.fmean(medians) / statistics.median(alone[side]))
        progress(f"  {plan.side_by_side} {'threads of one process' if by_threads else 'processes'} side by side, batch {side}: "
                 f"{1000 * statistics.fmean(medians):.1f} ms each, {crowding:.2f}x alone")
    for threads in others:
        (timed, _), = _run(_Job(str(archive), body.data, body.content_type, threads, tuple(sorted({1, plan.middle})), plan), 1)
        extra = [Timing(threads, size, times) for size, times in timed.items()]
        timings += extra
        progress(_line(threads, extra))
    return Costs(tuple(timings), side_by_side=crowding, side_by_side_count=plan.side_by_side if side is not None else 1,
                 side_by_side_mode=plan.side_by_side_mode)
