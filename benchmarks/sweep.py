"""Serving settings chosen by measurement: workers x torch threads x batch size x batch delay.

One server per torch-thread count (the worker reads ``ARCHIVE_TORCH_THREADS`` from the environment
it inherits, in place of the archive's ``serving.torch_threads``); per batch size and delay the
archive is registered through the management API (``batch_size``/``max_batch_delay`` from the
register call override the archive's), and per worker count it is scaled (the archive's own worker
count wins over register's). Each configuration gets a warm-up and a closed-loop wrk run.

A closed loop hides what batching does to latency under a steady load, so the settings within
``CANDIDATES`` of the best throughput are measured again (:func:`check_tails`): unloaded latency,
and an open loop at ``OPEN_FRACTION`` of their own closed-loop rate. The recommended ``serving:``
section is the highest throughput among the candidates whose open-loop p99 stays within
``TAIL_GOAL`` times their unloaded p50, ties (within ``tie``) going to the lowest open-loop p99;
when none does, the candidate with the lowest open-loop p99. (Not the lowest ratio: a long batch
delay raises the unloaded p50 and so flatters the ratio while every answer waits longer.)
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.bodies import Body
from benchmarks.sequential import sequential
from benchmarks.servers import BenchServer, bench_server
from markit.archive.mar_file import read_mar
from markit.ops.fit.measure import THREADS_VARIABLE, honours_thread_override
from markit.ops.fit.setting import Setting, serving_section
from markit.ops.load.openloop import WARMUP, open_loop
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["THREADS_VARIABLE", "Measured", "Setting", "Tail", "candidates", "check_tails", "grid", "honours_thread_override",
           "recommend", "run_sweep", "serving_section", "table", "tail_table"]

TIE = 0.03  # throughputs within 3 % of the best are a tie (run-to-run noise is about that)
DISTURBED = 0.25  # cores kept busy by processes outside the benchmark above which a run is marked
CANDIDATES = 0.10  # settings within 10 % of the best closed-loop throughput get their tail measured
OPEN_FRACTION = 0.7  # the tail check's open-loop rate, as a fraction of the setting's closed-loop rate
TAIL_GOAL = 3.0  # open-loop p99 / unloaded p50 at most this (the speed goals' latency line)


@dataclass(frozen=True)
class Measured:
    setting: Setting
    result: LoadResult
    tail: Tail | None = None  # for the candidates: the tail check


@dataclass(frozen=True)
class Tail:
    """A candidate's latency under a steady load, against its latency alone."""

    unloaded: LoadResult
    open: LoadResult

    @property
    def ratio(self) -> float:
        """Open-loop p99 / unloaded p50 (infinite when either failed)."""
        if self.unloaded.failed or self.open.failed or not self.unloaded.p50_ms > 0:
            return math.inf
        return self.open.p99_ms / self.unloaded.p50_ms


def grid(workers: Iterable[int], threads: Iterable[int], batch_sizes: Iterable[int], delays: Iterable[int], *,
         cores: int, connections: int) -> list[Setting]:
    """Every combination worth measuring, in run order.

    Pruned: workers x threads above ``cores`` (oversubscribed: measured several times slower);
    batch sizes above ``connections`` (a batch never holds more requests than are in flight); any
    delay but the smallest for batch size 1 (there is nothing to wait for)."""
    delays = sorted(set(delays))
    settings = set()
    for w, t, b, d in itertools.product(set(workers), set(threads), set(batch_sizes), delays):
        if w * t > cores or b > connections or (b == 1 and d != delays[0]):
            continue
        settings.add(Setting(threads=t, batch_size=b, max_batch_delay=1 if b == 1 else d, workers=w))
    return sorted(settings)


def _clean(measured: Sequence[Measured]) -> list[Measured]:
    clean = [m for m in measured if m.result.failed == 0 and m.result.ok > 0] or list(measured)
    if not clean:
        raise ValueError("nothing was measured")
    return clean


def candidates(measured: Sequence[Measured], within: float = CANDIDATES) -> list[Measured]:
    """The settings without failures within ``within`` of the best closed-loop throughput."""
    clean = _clean(measured)
    best = max(m.result.throughput for m in clean)
    return [m for m in clean if m.result.throughput >= (1 - within) * best]


def recommend(measured: Sequence[Measured], tie: float = TIE) -> Measured:
    """With tail checks: the highest throughput among the settings whose tail meets TAIL_GOAL (within
    ``tie`` of it, the lowest open-loop p99), else the lowest open-loop p99 of a tail check without
    failures. Without any: the highest throughput without failures, ties going to the lowest
    closed-loop p99."""
    checked = [(m, m.tail) for m in _clean(measured) if m.tail is not None]
    if checked:
        meeting = [(m, tail) for m, tail in checked if tail.ratio <= TAIL_GOAL]
        if not meeting:
            return min(checked, key=lambda pair: (pair[1].ratio == math.inf, pair[1].open.p99_ms))[0]
        best = max(m.result.throughput for m, _ in meeting)
        tied = [(m, tail) for m, tail in meeting if m.result.throughput >= (1 - tie) * best]
        return min(tied, key=lambda pair: (pair[1].open.p99_ms, -pair[0].result.throughput))[0]
    clean = _clean(measured)
    best = max(m.result.throughput for m in clean)
    tied = [m for m in clean if m.result.throughput >= (1 - tie) * best]
    return min(tied, key=lambda m: (m.result.p99_ms, -m.result.throughput))


def table(measured: Sequence[Measured], chosen: Measured | None = None) -> str:
    """One row per setting: images/s, p50, p99, failures, cores busy (server / other processes); the
    chosen one marked, and runs disturbed by other processes starred."""
    header = (f"  {'workers':>7} {'threads':>7} {'batch':>5} {'delay ms':>8} {'images/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}"
              f" {'server cores':>12} {'other cores':>11}")
    rows = [header]
    for m in measured:
        s, r = m.setting, m.result
        server, others = (r.cores.server, r.cores.others) if r.cores is not None else (math.nan, math.nan)
        star = "*" if others > DISTURBED else " "
        mark = "  <- recommended" if chosen is not None and m.setting == chosen.setting else ""
        rows.append(f"  {s.workers:>7} {s.threads:>7} {s.batch_size:>5} {s.max_batch_delay:>8} {r.throughput:>9.1f} "
                    f"{r.p50_ms:>7.0f} {r.p99_ms:>7.0f} {r.failed:>6} {server:>12.2f} {others:>10.2f}{star}{mark}")
    if any(m.result.cores is not None and m.result.cores.others > DISTURBED for m in measured):
        rows.append(f"  * other processes kept more than {DISTURBED} cores busy during this run: its figures are pessimistic")
    return "\n".join(rows)


def _check_applied(reported: dict[str, int], setting: Setting) -> None:
    """The server must report the setting's batching and workers, or the row would be mislabelled."""
    wanted = {"batchSize": setting.batch_size, "maxBatchDelay": setting.max_batch_delay, "minWorkers": setting.workers,
              "maxWorkers": setting.workers}
    if reported != wanted:
        raise RuntimeError(f"TorchServe reports {reported} after registering and scaling for {wanted}")


def _servers(archive: Path, settings: Sequence[Setting]) -> Iterator[tuple[BenchServer, Setting]]:
    """A server per torch-thread count, the archive registered and scaled for each setting in turn
    (in :func:`grid`'s order); the server is checked to report the setting before it is yielded."""
    info = read_mar(archive)
    for threads, group in itertools.groupby(sorted(settings), key=lambda s: s.threads):
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, \
                bench_server([archive], Path(tmp), env={THREADS_VARIABLE: str(threads)}) as server:
            for (batch, delay), same in itertools.groupby(group, key=lambda s: (s.batch_size, s.max_batch_delay)):
                server.register(info.mar_name, batch_size=batch, max_batch_delay=delay)
                for setting in same:
                    server.scale(info.name, setting.workers)
                    _check_applied(server.settings(info.name), setting)
                    yield server, setting
                server.unregister(info.name)


def run_sweep(archive: Path, body: Body, settings: Sequence[Setting], *, connections: int, seconds: float, warmup: float,
              retries: int = 1, progress: Callable[[str], None] = print) -> list[Measured]:
    """Measure every setting against one archive (sorted as :func:`grid` sorts them). A run during
    which other processes kept more than DISTURBED cores busy is measured again, up to ``retries``
    times, and the least disturbed run is kept."""
    info = read_mar(archive)
    measured: list[Measured] = []
    for server, setting in _servers(archive, settings):
        url = server.url(info.name)
        run_wrk(url, body.data, body.content_type, server.token, connections=connections, seconds=warmup)
        runs: list[LoadResult] = []
        while not runs or (_disturbed(runs[-1]) and len(runs) <= retries):
            runs.append(server.watched(partial(run_wrk, url, body.data, body.content_type, server.token,
                                               connections=connections, seconds=seconds)))
        result = min(runs, key=lambda r: r.cores.others if r.cores is not None else 0.0)
        measured.append(Measured(setting, result))
        again = f" (best of {len(runs)}: other processes were busy)" if len(runs) > 1 else ""
        progress(f"  {setting.label()}: {result.summary()}{again}")
    return measured


def check_tails(archive: Path, body: Body, chosen: Sequence[Measured], *, seconds: float, unloaded_requests: int = 40,
                warmup: float = 0.0, connections: int = 8, fraction: float = OPEN_FRACTION,
                progress: Callable[[str], None] = print) -> list[Measured]:
    """``chosen`` with their :class:`Tail`: on a server first warmed as the sweep warms it (a closed loop
    of ``connections`` for ``warmup`` seconds: every batch size formed, the frontend's hot paths
    compiled), unloaded latency, then an open loop at ``fraction`` of each one's closed-loop rate for
    ``seconds`` (after the open loop's own warm-up)."""
    info = read_mar(archive)
    by_setting = {m.setting: m for m in chosen}
    checked: list[Measured] = []
    for server, setting in _servers(archive, list(by_setting)):
        url, token, closed = server.url(info.name), server.token, by_setting[setting].result
        if warmup > 0:
            run_wrk(url, body.data, body.content_type, token, connections=connections, seconds=warmup)
        sequential(url, body.data, body.content_type, token, count=5)  # warm-up
        unloaded = server.watched(partial(sequential, url, body.data, body.content_type, token, count=unloaded_requests))
        opened = server.watched(partial(open_loop, url, body.data, body.content_type, token,
                                        rate=fraction * closed.throughput, seconds=seconds, warmup=WARMUP))
        tail = Tail(unloaded, opened)
        checked.append(Measured(setting, closed, tail))
        progress(f"  {setting.label()}: unloaded p50 {unloaded.p50_ms:.0f} ms; open loop {opened.summary()}; "
                 f"p99 / unloaded p50 {tail.ratio:.2f}")
    return checked


def tail_table(checked: Sequence[Measured], chosen: Measured | None = None) -> str:
    """One row per checked setting: closed-loop images/s, unloaded p50, open-loop rate and p99, their ratio."""
    rows = [f"  {'workers':>7} {'threads':>7} {'batch':>5} {'delay ms':>8} {'images/s':>9} {'unloaded p50':>12} "
            f"{'open loop /s':>12} {'open p99':>8} {'p99/p50':>7}"]
    for m in checked:
        s, tail = m.setting, m.tail
        if tail is None:
            continue
        mark = "  <- recommended" if chosen is not None and m.setting == chosen.setting else ""
        goal = "" if tail.ratio <= TAIL_GOAL else f" > {TAIL_GOAL:g}"
        rows.append(f"  {s.workers:>7} {s.threads:>7} {s.batch_size:>5} {s.max_batch_delay:>8} {m.result.throughput:>9.1f} "
                    f"{tail.unloaded.p50_ms:>12.0f} {tail.open.throughput:>12.1f} {tail.open.p99_ms:>8.0f} {tail.ratio:>7.2f}"
                    f"{goal}{mark}")
    return "\n".join(rows)


def _disturbed(result: LoadResult) -> bool:
    return result.cores is not None and result.cores.others > DISTURBED
