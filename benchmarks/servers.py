"""Private TorchServe processes for benchmarks: the project's config with the model API turned on.

Every server is a :class:`markit.ops.TorchServeProcess` (own ports, dirs, TMPDIR, worker ports,
token auth on) started from ``config/config.properties`` with two changes: ``enable_model_api=true``
(the sweep registers and scales models) and ``load_models`` naming what to load at start. The
model store is a directory called ``model_store``, so the config's ``allowed_urls`` admits it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.torchserve import ServerError, TorchServeProcess
from markit.client import TorchServeClient
from markit.client.tokens import TokenError
from markit.ops.load.cpu import CpuWatch
from markit.ops.load.stats import LoadResult

__all__ = ["BASE_CONFIG", "REPO", "BenchServer", "FrontendCounters", "bench_server", "parse_counters", "place", "worker_pids"]

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "config" / "config.properties"
BATCH_LINE = re.compile(r"batch of (\d+) requests")
# thread settings a benchmark sets on purpose; never inherited from the shell that started it
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ARCHIVE_TORCH_THREADS")


COUNTER = re.compile(r'^(ts_inference_requests_total|ts_inference_latency_microseconds|ts_queue_latency_microseconds)'
                     r'\{model_name="([^"]+)",[^}]*\}\s+([0-9.eE+-]+)$', re.M)


@dataclass(frozen=True)
class FrontendCounters:
    """TorchServe's own per-model counters (Prometheus): requests, and the summed time they spent in
    the server (from arrival to answer) and in its queue (until a worker's batch took them)."""

    requests: float = 0.0
    latency_us: float = 0.0
    queue_us: float = 0.0

    def __add__(self, other: FrontendCounters) -> FrontendCounters:
        return FrontendCounters(self.requests + other.requests, self.latency_us + other.latency_us,
                                self.queue_us + other.queue_us)

    def __sub__(self, earlier: FrontendCounters) -> FrontendCounters:
        return FrontendCounters(self.requests - earlier.requests, self.latency_us - earlier.latency_us,
                                self.queue_us - earlier.queue_us)

    def summary(self) -> str:
        if self.requests <= 0:
            return "no requests counted"
        in_server, queue = self.latency_us / self.requests / 1000, self.queue_us / self.requests / 1000
        return (f"mean per request {in_server:.0f} ms in the server: {queue:.0f} ms queued for a worker, "
                f"{in_server - queue:.0f} ms from the batch leaving the queue to the answer")


def parse_counters(text: str, model: str) -> FrontendCounters:
    """The model's counters from a ``/metrics`` page (zeros when it has none yet)."""
    found = {name: float(value) for name, name_of_model, value in COUNTER.findall(text) if name_of_model == model}
    return FrontendCounters(found.get("ts_inference_requests_total", 0.0), found.get("ts_inference_latency_microseconds", 0.0),
                            found.get("ts_queue_latency_microseconds", 0.0))


class BenchServer:
    """A started server and what benchmarks ask of it."""

    def __init__(self, process: TorchServeProcess) -> None:
        self.process = process

    def url(self, model: str) -> str:
        return f"{self.process.url('inference')}/predictions/{model}"

    @property
    def token(self) -> str:
        return self.process.client.token("inference")

    def register(self, mar_name: str, *, model_name: str | None = None, batch_size: int | None = None,
                 max_batch_delay: int | None = None) -> None:
        reply = self.process.client.register(mar_name, model_name=model_name, batch_size=batch_size,
                                             max_batch_delay=max_batch_delay)
        if not reply.ok:
            raise ServerError(f"registering {mar_name}: HTTP {reply.status}: {reply.body}\n{self.process.log_tail()}")

    def unregister(self, model: str, attempts: int = 5) -> None:
        """Remove ``model``. TorchServe 0.12 sometimes answers 500 ConcurrentModificationException when
        the model's workers are still finishing requests (seen right after a load run): try again."""
        for attempt in range(attempts):
            reply = self.process.client.unregister(model)
            if reply.ok:
                return
            if reply.status != 500 or "ConcurrentModification" not in str(reply.body) or attempt == attempts - 1:
                break
            time.sleep(1.0)
        raise ServerError(f"unregistering {model}: HTTP {reply.status}: {reply.body}")

    def scale(self, model: str, workers: int, timeout: float = 300.0) -> None:
        """Exactly ``workers`` workers, all READY."""
        reply = self.process.client.scale(model, workers, workers)
        if not reply.ok:
            raise ServerError(f"scaling {model} to {workers}: HTTP {reply.status}: {reply.body}")
        self.wait_workers(model, workers, timeout)

    def settings(self, model: str) -> dict[str, int]:
        """The model's batchSize, maxBatchDelay and worker counts as the server reports them."""
        body = self.process.client.status(model).body[0]
        return {key: int(body[key]) for key in ("batchSize", "maxBatchDelay", "minWorkers", "maxWorkers")}

    def wait_workers(self, model: str, workers: int, timeout: float = 300.0) -> None:
        """Until ``model`` has exactly ``workers`` workers, all READY (ServerError at once if the server exits)."""

        def settled() -> bool:
            reply = self.process.client.status(model)
            states = [worker.get("status") for worker in reply.body[0].get("workers", [])] if reply.ok else []
            return reply.ok and states.count("READY") == workers == len(states)

        if not self.process.wait_for(settled, timeout):
            raise ServerError(f"{model}: not {workers} READY workers after {timeout:.0f} s\n{self.process.log_tail()}")

    def watched(self, run: Callable[[], LoadResult]) -> LoadResult:
        """``run()``'s result with the cores the server, the generator and other processes kept busy meanwhile."""
        with CpuWatch(self.process.process.pid if self.process.process else None) as watch:
            result = run()
        return dataclasses.replace(result, cores=watch.share)

    def counters(self, model: str) -> FrontendCounters:
        """TorchServe's counters for ``model`` now (the metrics API asks no token)."""
        reply = requests.get(f"{self.process.url('metrics')}/metrics", timeout=30)
        return parse_counters(reply.text, model) if reply.ok else FrontendCounters()

    def batch_mark(self) -> int:
        """Where the model log's batch lines end now (see :meth:`batches_since`)."""
        return len(BATCH_LINE.findall(self.process.log_text()))

    def batches_since(self, mark: int) -> Counter[int]:
        """Batch sizes the project's handler logged since ``mark`` (empty for other handlers)."""
        return Counter(int(size) for size in BATCH_LINE.findall(self.process.log_text())[mark:])


@contextmanager
def bench_server(archives: Sequence[Path], root: Path, *, load: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 torchserve: Path | None = None, overrides: Mapping[str, str] | None = None,
                 ready: Mapping[str, int] | None = None, unpack: bool = True) -> Iterator[BenchServer]:
    """A server whose store holds ``archives``; ``load`` lists the .mar file names loaded at start and
    ``ready`` the models (and worker counts) to wait for. Thread variables are not inherited. As every
    server here, it is handed the archives checked and unpacked (``markit.archive.unpack``: a directory of each
    archive's name); ``unpack=False`` hands it the zips (the stock handler's archives, which carry none of the
    manifest those checks read)."""
    store = root / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        place(Path(archive), store / Path(archive).name)
    settings = {"enable_model_api": "true", "load_models": ",".join(load), **(overrides or {})}
    environment: dict[str, str | None] = {name: None for name in THREAD_VARIABLES}
    environment.update(env or {})
    process = TorchServeProcess(BASE_CONFIG, store, root / "ts", overrides=settings, env=environment, torchserve=torchserve,
                                unpack=unpack)
    process.start()
    try:
        process.wait_listening()
        server = BenchServer(process)
        for model, workers in (ready or {}).items():
            server.wait_workers(model, workers)
        yield server
    finally:
        process.stop()


def place(source: Path, target: Path) -> None:
    """``source`` at ``target`` (replacing it): a hard link when the file system allows, else a copy."""
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def worker_pids(client: TorchServeClient, model: str, *, ready_only: bool = False) -> list[int]:
    """The pids of ``model``'s workers (only the READY ones if asked), as the management API reports them; none
    from a server without one (the KServe runtime, whose key file holds no management key)."""
    try:
        reply = client.status(model)
    except TokenError:
        return []
    if not reply.ok:
        return []
    return [worker["pid"] for entry in reply.body for worker in entry.get("workers", [])
            if worker.get("pid") and (not ready_only or worker.get("status") == "READY")]
