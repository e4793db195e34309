"""One archive on both engines, in one run: TorchServe and the KServe runtime side by side.

In each round, on fresh servers, one engine after the other serves the same archive with its shipped
settings (workers, batch size, delay, torch threads) and gets the same load: a closed loop of wrk on
``/predictions`` (both engines serve that route), after a warm-up, then sequential requests for the unloaded
latency. The table shows each engine's median over the rounds; the ratio lines hold the goal: the KServe
runtime is not slower than TorchServe (throughput at least 1.0x, p99 at most 1.0x), median of per-round ratios.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.bodies import Body
from benchmarks.compare import archive_summary
from benchmarks.report import Ratio, machine, ratio_table
from benchmarks.sequential import sequential
from benchmarks.servers import bench_server, place
from harness import KServeRuntimeProcess
from markit.archive.mar_file import read_mar
from markit.ops.load.cpu import CpuWatch
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["EngineOptions", "EngineRuns", "measure_engines", "render_engines"]

TORCHSERVE = "TorchServe"


@dataclass(frozen=True)
class EngineOptions:
    body: Body
    connections: int = 8
    seconds: float = 15.0
    warmup: float = 5.0
    rounds: int = 3
    unloaded_requests: int = 40
    processes: tuple[int, ...] = (1, 2)  # the KServe runtime's --processes, each measured

    @property
    def engines(self) -> tuple[str, ...]:
        return (TORCHSERVE, *(runtime_label(count) for count in self.processes))


def runtime_label(processes: int) -> str:
    return f"KServe runtime, {processes} process{'es' if processes > 1 else ''}"


@dataclass
class EngineRuns:
    """Per engine, each round's closed-loop and unloaded results."""

    closed: dict[str, list[LoadResult]] = field(default_factory=dict)
    unloaded: dict[str, list[LoadResult]] = field(default_factory=dict)


def measure_engines(archive: Path, options: EngineOptions, progress: Callable[[str], None]) -> EngineRuns:
    info = read_mar(archive)
    runs = EngineRuns()
    for number in range(1, options.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="bench-engines-") as scratch:
            root = Path(scratch)
            progress(f"round {number}/{options.rounds}: {TORCHSERVE} ...")
            workers = {info.name: info.settings["maxWorkers"]}
            with bench_server([archive], root / "torchserve", load=[info.mar_name], ready=workers) as server:
                _measure(runs, TORCHSERVE, server.url(info.name), server.token, server.process.process.pid, options, progress)
            store = root / "kserve-store"
            store.mkdir()
            place(archive, store / archive.name)
            for count in options.processes:
                label = runtime_label(count)
                progress(f"round {number}/{options.rounds}: {label} ...")
                with KServeRuntimeProcess(store, root / f"kserve-{count}", ["--processes", str(count)]) as runtime:
                    runtime.wait_ready()
                    _measure(runs, label, f"{runtime.url()}/predictions/{info.name}", runtime.token(), runtime.process.pid,
                             options, progress)
    return runs


def _measure(runs: EngineRuns, engine: str, url: str, token: str, pid: int, options: EngineOptions,
             progress: Callable[[str], None]) -> None:
    body = options.body
    run_wrk(url, body.data, body.content_type, token, connections=options.connections, seconds=options.warmup)
    with CpuWatch(pid) as watch:
        closed = run_wrk(url, body.data, body.content_type, token, connections=options.connections, seconds=options.seconds)
    runs.closed.setdefault(engine, []).append(_with_cores(closed, watch))
    progress(f"  {engine}, closed loop: {closed.summary()}")
    unloaded = sequential(url, body.data, body.content_type, token, count=options.unloaded_requests)
    runs.unloaded.setdefault(engine, []).append(unloaded)
    progress(f"  {engine}, unloaded: {unloaded.summary(with_rate=False)}")


def _with_cores(result: LoadResult, watch: CpuWatch) -> LoadResult:
    return dataclasses.replace(result, cores=watch.share)


def ratios(runs: EngineRuns, options: EngineOptions) -> list[Ratio]:
    """Per KServe runtime configuration: its throughput and p99 against TorchServe's, round by round."""
    lines = []
    ts = runs.closed[TORCHSERVE]
    for label in options.engines[1:]:
        ks = runs.closed[label]
        failed = sum(result.failed for result in ts + ks)
        note = f"{failed} request(s) failed" if failed else ""
        lines += [
            _paired(f"{label} / TorchServe, closed-loop throughput", [(k.throughput, t.throughput) for k, t in zip(ks, ts, strict=True)],
                    "images/s", 1.0, True, note),
            _paired(f"{label} / TorchServe, closed-loop p99", [(k.p99_ms, t.p99_ms) for k, t in zip(ks, ts, strict=True)],
                    "ms", 1.0, False, note),
        ]
    return lines


def _paired(what: str, pairs: list[tuple[float, float]], unit: str, goal: float, at_least: bool, note: str) -> Ratio:
    return Ratio(what, statistics.median(n for n, _ in pairs), statistics.median(d for _, d in pairs), unit, goal,
                 at_least=at_least, note=note, rounds=tuple(n / d if d > 0 else float("nan") for n, d in pairs))


def render_engines(archive: Path, options: EngineOptions, runs: EngineRuns, origin: str) -> str:
    info = read_mar(archive)
    lines = [f"One archive, two engines: {archive.name} ({origin})",
             f"  {archive_summary(info)}",
             f"  body: {options.body.label}; closed loop: wrk, {options.connections} connections, {options.seconds:.0f} s "
             f"after {options.warmup:.0f} s warm-up; unloaded: {options.unloaded_requests} sequential requests; "
             f"{options.rounds} rounds, fresh servers, engines in turn",
             f"  {machine()}", "",
             f"  {'engine':<28} {'throughput':>12} {'p50':>9} {'p99':>9} {'unloaded p50':>13} {'failed':>7}"]
    for engine in options.engines:
        closed, unloaded = runs.closed[engine], runs.unloaded[engine]
        lines.append(f"  {engine:<28} {_median(r.throughput for r in closed):>8.1f} /s {_median(r.p50_ms for r in closed):>6.0f} ms "
                     f"{_median(r.p99_ms for r in closed):>6.0f} ms {_median(r.p50_ms for r in unloaded):>10.0f} ms "
                     f"{sum(r.failed for r in closed + unloaded):>7}")
    return "\n".join([*lines, "", ratio_table(ratios(runs, options))])


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")
