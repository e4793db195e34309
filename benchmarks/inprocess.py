"""The in-process ceiling: the archive's own handler without a server, N processes x T torch threads.

Each process unpacks the archive with :class:`markit.offline.LocalArchive` (the handler a worker runs,
requests through TorchServe's own ``Service`` path), sets ``torch.set_num_threads(T)`` and answers
batches of the same body for a fixed time after a warm-up; the processes start their measured
window together (a barrier). What a served archive can reach at best with the same workers x
threads is the sum of their rates.

With ``forward_only`` each process makes the batch tensor once (the archive's own decode and preprocess) and
then times only the model on it: the model alone, the ceiling of any server of this graph with the same
processes x threads.
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
    forward_only: bool = False

    def summary(self) -> str:
        failed = f", {self.failed} refused" if self.failed else ""
        others = f"; other processes kept {self.others:.2f} cores busy" if self.others is not None else ""
        what = "the model alone" if self.forward_only else "in process"
        return (f"{self.rate:.1f} images/s {what} ({self.processes} process(es) x {self.threads} thread(s), "
                f"batches of {self.batch_size}, {self.images} images in {self.seconds:.1f} s{failed}){others}")


def _worker(archive: str, body: bytes, content_type: str, threads: int, batch_size: int, warmup: float, seconds: float,
            barrier: Any, results: Any, forward_only: bool = False) -> None:
    import torch

    from markit.offline import LocalArchive, LocalRequest

    with LocalArchive(Path(archive), batch_size=batch_size) as local:
        torch.set_num_threads(threads)
        batch = [LocalRequest.raw(body, content_type)] * batch_size
        run = _model_alone(local, batch) if forward_only else lambda: [r.status for r in local.predict(batch)]
        deadline = time.perf_counter() + warmup
        while time.perf_counter() < deadline:
            run()
        barrier.wait()
        images = failed = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            statuses = run()
            images += sum(status == 200 for status in statuses)
            failed += sum(status != 200 for status in statuses)
        results.put((images, failed, elapsed))


def _model_alone(local: Any, batch: list[Any]) -> Any:
    """A call of the model on the batch tensor the archive makes of ``batch`` (made once): one 200 per item."""
    import torch

    task = local.task_handler
    tensor = local.example_batch(batch)
    statuses = [200] * len(batch)

    def run() -> list[int]:
        with torch.inference_mode():
            task.model(*tensor) if isinstance(tensor, tuple) else task.model(tensor)
        return statuses
    return run


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
            seconds: float = 20.0, warmup: float = 5.0, forward_only: bool = False) -> Ceiling:
    """Run ``processes`` handler processes of ``threads`` torch threads each; their summed images/s (with
    ``forward_only``: of the model alone)."""
    from markit.ops.load.cpu import CpuWatch

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_worker, args=(str(archive), body, content_type, threads, batch_size, warmup, seconds,
                                                     barrier, results, forward_only), daemon=True) for _ in range(processes)]
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
                   rate=sum(outcome[0] / outcome[2] for outcome in outcomes), others=watch.share.others,
                   forward_only=forward_only)
