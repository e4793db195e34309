"""Where a served request's time goes: the in-process stages (``stages.py``) and each engine's own share.

Every archive is served with its shipped settings by both engines, one server of each holding them all, and
gets ``count`` requests one at a time (unloaded) with the same body its stages were measured on. What a caller
waits (the median) minus the stages in process is the engine's own share:

- **TorchServe**: the frontend's HTTP (the caller's wait minus TorchServe's own time from the request's arrival
  to its answer, which its metrics count), the queue (its metrics: until the batch left it, so a lone request
  waits the batch delay there), and the rest, the worker protocol: the request and the answer through the
  worker's socket, and the Python worker's own loop (TorchServe's metrics and logging in it);
- **the KServe runtime**: HTTP, the queue and the batch delay, one share (its server and the handler are one
  process).

TorchServe's counters are means, the caller's wait a median: with requests one at a time the two agree closely,
and a share that comes out below zero is shown as zero.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bodies import Body
from benchmarks.sequential import sequential
from benchmarks.servers import bench_server
from benchmarks.sides import kserve_runtime
from benchmarks.stages import StageTimes
from markit.archive.mar_file import read_mar

__all__ = ["ENGINE_SHARES", "EngineShare", "measure_served", "render_served"]

TORCHSERVE, KSERVE = "TorchServe", "KServe runtime"
# the engine's own stages, as the chart and the table name them
ENGINE_SHARES = ("frontend HTTP", "queue + batch delay", "worker protocol", "HTTP + queue + batch delay")


@dataclass(frozen=True)
class EngineShare:
    engine: str
    archive: str
    served_ms: float  # the caller's median wait, unloaded
    shares: Mapping[str, float]  # the engine's own stages, ms
    failed: int

    @property
    def total(self) -> float:
        return sum(self.shares.values())


def measure_served(staged: Sequence[tuple[Path, Body, StageTimes]], count: int, progress: Callable[[str], None]) -> list[EngineShare]:
    """Each (archive, body, its stages) served unloaded by TorchServe, then by the KServe runtime."""
    shares: list[EngineShare] = []
    infos = [read_mar(archive) for archive, _, _ in staged]
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as scratch:
        root = Path(scratch)
        progress(f"stages served: {len(staged)} archive(s) on TorchServe ...")
        with bench_server([archive for archive, _, _ in staged], root / "torchserve", load=[info.mar_name for info in infos],
                          ready={info.name: info.settings["maxWorkers"] for info in infos}) as server:
            for info, (_, body, stages) in zip(infos, staged, strict=True):
                before = server.counters(info.name)
                waited = sequential(server.url(info.name), body.data, body.content_type, server.token, count=count)
                counted = server.counters(info.name) - before
                shares.append(_torchserve(stages.archive, waited.p50_ms, counted, stages, waited.failed))
        progress(f"stages served: {len(staged)} archive(s) on the KServe runtime ...")
        with kserve_runtime([archive for archive, _, _ in staged], root) as (base, target):
            for info, (_, body, stages) in zip(infos, staged, strict=True):
                waited = sequential(f"{base}/predictions/{info.name}", body.data, body.content_type, target.token,
                                    count=count)
                own = {ENGINE_SHARES[3]: max(0.0, waited.p50_ms - stages.total)}
                shares.append(EngineShare(KSERVE, stages.archive, waited.p50_ms, own, waited.failed))
    return shares


def _torchserve(archive: str, waited_ms: float, counted, stages: StageTimes, failed: int) -> EngineShare:  # counted: FrontendCounters
    requests = max(counted.requests, 1.0)
    in_server, queue = counted.latency_us / requests / 1000, counted.queue_us / requests / 1000
    own = {ENGINE_SHARES[0]: max(0.0, waited_ms - in_server), ENGINE_SHARES[1]: max(0.0, queue),
           ENGINE_SHARES[2]: max(0.0, in_server - queue - stages.total)}
    return EngineShare(TORCHSERVE, archive, waited_ms, own, failed)


def render_served(staged: Sequence[StageTimes], shares: Sequence[EngineShare], count: int) -> str:
    """A table: per archive and engine, the caller's median wait, the stages in process and the engine's shares."""
    by_archive = {result.archive: result for result in staged}
    lines = [f"served: {count} requests one at a time to each archive (its shipped settings), the caller's median wait; "
             "the engine's share is that wait minus the stages in process", "",
             "| archive | engine | served p50 ms | stages in process ms | " + " | ".join(ENGINE_SHARES) + " | engine share |",
             "| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in ENGINE_SHARES) + " | ---: |"]
    for share in shares:
        stages = by_archive[share.archive].total
        cells = " | ".join(f"{share.shares[name]:.2f}" if name in share.shares else "" for name in ENGINE_SHARES)
        failed = f" ({share.failed} failed)" if share.failed else ""
        lines.append(f"| {share.archive} | {share.engine}{failed} | {share.served_ms:.2f} | {stages:.2f} | {cells} | "
                     f"{100 * share.total / share.served_ms if share.served_ms else float('nan'):.0f} % |")
    return "\n".join(lines)
