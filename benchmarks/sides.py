"""The load every side of a round gets, whatever server it is: a closed loop, and for ours the latency goals.

A :class:`Target` is where to send (the predict URL and its token) and whose CPU to watch (the server's process
group). Every side gets the same closed loop (``closed_loop``: a warm-up, then the measured window of wrk); ours
also gets ``latency_goal``: requests one at a time (the unloaded p50), then an open loop at a fraction of that
round's closed-loop rate (its p99).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bodies import Body
from benchmarks.sequential import sequential
from benchmarks.servers import place
from markit.ops.load.cpu import CpuWatch
from markit.ops.load.runs import watched_closed_loop, watched_open_loop
from markit.ops.load.stats import LoadResult

__all__ = ["Latency", "Load", "Target", "closed_loop", "kserve_runtime", "latency_goal"]


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    group: int | None  # the server's process group (its pid), for its CPU
    headers: Mapping[str, str] | None = None  # sent with every request of a closed loop (LitServe's API key)


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: float
    warmup: float
    unloaded_requests: int
    open_fraction: float
    open_seconds: float
    open_warmup: float


@dataclass(frozen=True)
class Latency:
    unloaded: LoadResult
    open: LoadResult | None  # None when the closed loop answered nothing to take a fraction of


def closed_loop(target: Target, body: Body, load: Load) -> LoadResult:
    """wrk for ``load.warmup`` s (not counted), then ``load.seconds`` counted, the server's CPU watched."""
    return watched_closed_loop(target.url, target.token, target.group, body, connections=load.connections,
                               seconds=load.seconds, warmup=load.warmup, headers=target.headers)


def latency_goal(target: Target, body: Body, load: Load, capacity: float) -> Latency:
    """The unloaded latency, then an open loop at ``load.open_fraction`` of ``capacity`` (requests/s)."""
    with CpuWatch(target.group) as watch:
        unloaded = sequential(target.url, body.data, body.content_type, target.token, count=load.unloaded_requests)
    unloaded = dataclasses.replace(unloaded, cores=watch.share)
    rate = load.open_fraction * capacity
    if rate <= 0:
        return Latency(unloaded, None)
    return Latency(unloaded, watched_open_loop(target.url, target.token, target.group, body, rate=rate,
                                               seconds=load.open_seconds, warmup=load.open_warmup))


@contextmanager
def kserve_runtime(archives: list[Path], root: Path) -> Iterator[tuple[str, Target]]:
    """The KServe runtime (its defaults: one process) serving ``archives``; yields its base URL and a target
    for the first archive's model (``/predictions/NAME``, a route both engines serve)."""
    from harness import KServeRuntimeProcess
    from markit.archive.mar_file import read_mar

    store = root / "kserve-store"
    store.mkdir(parents=True, exist_ok=True)
    for archive in archives:
        place(archive, store / archive.name)
    with KServeRuntimeProcess(store, root / "kserve") as runtime:
        runtime.wait_ready()
        assert runtime.process is not None
        name = read_mar(archives[0]).name
        yield runtime.url(), Target(f"{runtime.url()}/predictions/{name}", runtime.token(), runtime.process.pid)
