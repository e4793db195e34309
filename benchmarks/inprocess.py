"""The in-process ceiling: the archive's own handler without a server, N processes x T torch threads.

Each process unpacks the archive with :class:`markit.offline.LocalArchive` (the handler a worker runs,
requests through TorchServe's own ``Service`` path), sets ``torch.set_num_threads(T)`` and answers
batches of the same body for a fixed time after a warm-up; the processes start their measured
window together (a barrier). What a served archive can reach at best with the same workers x
threads is the sum of their rates.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Ceiling", "ceiling"]


@dataclass(frozen=True)
class Ceiling:
    processes: int
    threads: int
    batch_size: int
    images: int
    failed: int
    seconds: float  # the longest process's measured window
    rate: float  # images/s, summed over processes
    others: float | None = None  # cores other processes kept busy meanwhile, when watched

    def summary(self) -> str:
        failed = f", {self.failed} refused" if self.failed else ""
        others = f"; other processes kept {self.others:.2f} cores busy" if self.others is not None else ""
        return (f"{self.rate:.1f} images/s in process ({self.processes} process(es) x {self.threads} thread(s), "
                f"batches of {self.batch_size}, {self.images} images in {self.seconds:.1f} s{failed}){others}")


def _worker(archive: str, body: bytes, content_type: str, threads: int, batch_size: int, warmup: float, seconds: float,
            barrier: Any, results: Any) -> None:
    import torch

    from markit.offline import LocalArchive, LocalRequest

    with LocalArchive(Path(archive), batch_size=batch_size) as local:
        torch.set_num_threads(threads)
        batch = [LocalRequest.raw(body, content_type)] * batch_size
        deadline = time.perf_counter() + warmup
        while time.perf_counter() < deadline:
            local.predict(batch)
        barrier.wait()
        images = failed = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            statuses = [response.status for response in local.predict(batch)]
            images += sum(status == 200 for status in statuses)
            failed += sum(status != 200 for status in statuses)
        results.put((images, failed, elapsed))


def _collect(results: Any, workers: list[Any]) -> list[tuple[int, int, float]]:
    """Every process's (images, refused, seconds); RuntimeError as soon as one died without a result."""
    outcomes: list[tuple[int, int, float]] = []
    while len(outcomes) < len(workers):
        try:
            outcomes.append(results.get(timeout=1.0))
        except queue.Empty:
            dead = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"an in-process handler process failed (exit code {dead[0]}); its error is above") from None
    return outcomes


def ceiling(archive: Path, body: bytes, content_type: str, *, processes: int, threads: int, batch_size: int = 1,
            seconds: float = 20.0, warmup: float = 5.0) -> Ceiling:
    """Run ``processes`` handler processes of ``threads`` torch threads each; their summed images/s."""
    from markit.ops.load.cpu import CpuWatch

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_worker, args=(str(archive), body, content_type, threads, batch_size, warmup, seconds,
                                                     barrier, results), daemon=True) for _ in range(processes)]
    with CpuWatch(None) as watch:  # the handler processes count as this process's children once joined
        for worker in workers:
            worker.start()
        try:
            outcomes = _collect(results, workers)
        finally:
            for worker in workers:
                worker.join(timeout=60)
                if worker.is_alive():
                    worker.terminate()
    images = sum(outcome[0] for outcome in outcomes)
    return Ceiling(processes=processes, threads=threads, batch_size=batch_size, images=images,
                   failed=sum(outcome[1] for outcome in outcomes), seconds=max(outcome[2] for outcome in outcomes),
                   rate=sum(outcome[0] / outcome[2] for outcome in outcomes), others=watch.share.others)
