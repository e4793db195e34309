"""Serving settings chosen by measurement: workers x torch threads x batch size x batch delay.

One server per torch-thread count (the worker reads ``ARCHIVE_TORCH_THREADS`` from the environment
it inherits, in place of the archive's ``serving.torch_threads``); per batch size and delay the
archive is registered through the management API (``batch_size``/``max_batch_delay`` from the
register call override the archive's), and per worker count it is scaled (the archive's own worker
count wins over register's). Each configuration gets a warm-up and a closed-loop wrk run; the
recommended ``serving:`` section is the highest throughput, ties (within ``tie`` of the best)
going to the lowest p99.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..archive import read_archive
from .bodies import Body
from .servers import bench_server
from .stats import LoadResult
from .wrk import run_wrk

__all__ = ["THREADS_VARIABLE", "Measured", "Setting", "grid", "honours_thread_override", "recommend", "run_sweep",
           "serving_section", "table"]

THREADS_VARIABLE = "ARCHIVE_TORCH_THREADS"
TIE = 0.03  # throughputs within 3 % of the best are a tie (run-to-run noise is about that)
DISTURBED = 0.25  # cores kept busy by processes outside the benchmark above which a run is marked


@dataclass(frozen=True, order=True)
class Setting:
    threads: int  # first: the sweep restarts the server per thread count
    batch_size: int
    max_batch_delay: int
    workers: int

    def label(self) -> str:
        return f"{self.workers} x {self.threads} thread(s), batch {self.batch_size}, delay {self.max_batch_delay} ms"


@dataclass(frozen=True)
class Measured:
    setting: Setting
    result: LoadResult


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


def recommend(measured: Sequence[Measured], tie: float = TIE) -> Measured:
    """The highest throughput without failures; among those within ``tie`` of it, the lowest p99."""
    clean = [m for m in measured if m.result.failed == 0 and m.result.ok > 0] or list(measured)
    if not clean:
        raise ValueError("nothing was measured")
    best = max(m.result.throughput for m in clean)
    tied = [m for m in clean if m.result.throughput >= (1 - tie) * best]
    return min(tied, key=lambda m: (m.result.p99_ms, -m.result.throughput))


def serving_section(setting: Setting, response_timeout: int | None = None) -> str:
    """The spec's ``serving:`` YAML for ``setting``."""
    lines = ["serving:", f"  workers: {setting.workers}", f"  torch_threads: {setting.threads}",
             f"  batch_size: {setting.batch_size}", f"  max_batch_delay: {setting.max_batch_delay}"]
    if response_timeout is not None:
        lines.append(f"  response_timeout: {response_timeout}")
    return "\n".join(lines) + "\n"


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
        mark = "  <- recommended" if chosen is not None and m is chosen else ""
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


def honours_thread_override(archive: Path) -> bool:
    """Whether the run-time code inside the archive reads ``ARCHIVE_TORCH_THREADS``."""
    with zipfile.ZipFile(archive) as mar:
        return any(THREADS_VARIABLE.encode() in mar.read(name) for name in mar.namelist() if name.endswith(".py"))


def run_sweep(archive: Path, body: Body, settings: Sequence[Setting], *, connections: int, seconds: float, warmup: float,
              retries: int = 1, progress: Callable[[str], None] = print) -> list[Measured]:
    """Measure every setting against one archive (sorted as :func:`grid` sorts them). A run during
    which other processes kept more than DISTURBED cores busy is measured again, up to ``retries``
    times, and the least disturbed run is kept."""
    info = read_archive(archive)
    measured: list[Measured] = []
    for threads, group in itertools.groupby(sorted(settings), key=lambda s: s.threads):
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, \
                bench_server([archive], Path(tmp), env={THREADS_VARIABLE: str(threads)}) as server:
            for (batch, delay), same in itertools.groupby(group, key=lambda s: (s.batch_size, s.max_batch_delay)):
                server.register(info.mar_name, batch_size=batch, max_batch_delay=delay)
                for setting in same:
                    server.scale(info.name, setting.workers)
                    _check_applied(server.settings(info.name), setting)
                    url = server.url(info.name)
                    run_wrk(url, body.data, body.content_type, server.token, connections=connections, seconds=warmup)
                    runs: list[LoadResult] = []
                    while not runs or (_disturbed(runs[-1]) and len(runs) <= retries):
                        runs.append(server.watched(lambda u=url: run_wrk(u, body.data, body.content_type, server.token,
                                                                         connections=connections, seconds=seconds)))
                    result = min(runs, key=lambda r: r.cores.others if r.cores is not None else 0.0)
                    measured.append(Measured(setting, result))
                    again = f" (best of {len(runs)}: other processes were busy)" if len(runs) > 1 else ""
                    progress(f"  {setting.label()}: {result.summary()}{again}")
                server.unregister(info.name)
    return measured


def _disturbed(result: LoadResult) -> bool:
    return result.cores is not None and result.cores.others > DISTURBED
