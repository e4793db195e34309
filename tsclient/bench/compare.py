"""The one command: every ratio of the speed goals, measured side by side in one run.

Phases, one server at a time (nothing else competes for the cores):

1. ours, the archive with its shipped settings: closed loop (capacity), unloaded latency, open loop
   at a fraction of that capacity, and the 12-MP photo's unloaded latency;
2. the same archive rebuilt with ``preprocess.draft=false`` (full decode): the 12-MP photo's latency;
3. the stock ``image_classifier`` with the same network as TorchScript, tuned like ours (same
   workers, batch size and delay, ``OMP_NUM_THREADS`` = our torch threads): closed loop;
4. the stock handler on TorchServe's defaults (workers = cores, batch 1, no thread setting);
5. the in-process ceiling of our archive with the same workers x threads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..archive import ArchiveInfo, read_archive
from . import stock
from .bodies import Body
from .inprocess import Ceiling, ceiling
from .openloop import open_loop
from .report import Ratio, machine, ratio_table
from .sequential import sequential
from .servers import REPO, BenchServer, FrontendCounters, bench_server
from .stats import LoadResult
from .sweep import DISTURBED
from .wrk import run_wrk

__all__ = ["FULL_DECODE", "CompareOptions", "archive_summary", "compare", "ratios"]

FULL_DECODE = "preprocess.draft=false"
MAX_WINDOW = 120.0  # s: the longest closed-loop window (for answers slower than the default window allows)
LABELS = REPO / "examples" / "efficientnet_lite0" / "build" / "labels.txt"


@dataclass(frozen=True)
class CompareOptions:
    body: Body
    large: Body  # the 12-MP photo
    connections: int = 8
    seconds: float = 20.0  # each closed-loop window, after ``warmup``
    warmup: float = 5.0
    open_fraction: float = 0.7  # the open loop's rate, as a fraction of ours' closed-loop capacity
    open_seconds: float = 20.0
    unloaded_requests: int = 40
    large_requests: int = 10
    with_stock: bool = True
    with_ceiling: bool = True


@dataclass(frozen=True)
class ClosedRun:
    result: LoadResult
    batches: dict[int, int]  # batch size -> how many the project's handler logged (empty for the stock one)
    frontend: FrontendCounters  # TorchServe's own counters over the window


@dataclass
class Figures:
    """Everything measured; a figure stays None (and its error a string) when it could not be measured."""

    ours: LoadResult | None = None
    frontend: dict[str, FrontendCounters] = field(default_factory=dict)  # per closed-loop run: where requests spent time
    batches: dict[int, int] = field(default_factory=dict)
    unloaded: LoadResult | None = None
    open: LoadResult | None = None
    large_ours: LoadResult | None = None
    large_full: LoadResult | None = None
    stock_tuned: LoadResult | None = None
    stock_default: LoadResult | None = None
    ceilings: list[Ceiling] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    load_average: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average before and after


def archive_summary(info: ArchiveInfo) -> str:
    """Name, version, model format and serving section, as the archive declares them."""
    settings = info.settings
    return (f"{info.name} {info.version}, model format {info.model_format}; serving: workers {settings['maxWorkers']}, "
            f"torch_threads {info.torch_threads}, batch_size {settings['batchSize']}, max_batch_delay {settings['maxBatchDelay']}, "
            f"response_timeout {settings['responseTimeout']}")


def compare(archive: Path, full_decode: Path | str, options: CompareOptions, progress: Callable[[str], None]) -> Figures:
    """Measure every phase; ``full_decode`` is the rebuilt archive, or why there is none.

    Everything that is set up (the stock venv, the traced network, the stock archives) is made
    first, so the measurements run back to back: the ceiling, ours, the stock handler tuned the
    same, the stock handler on defaults, then the 12-MP full decode."""
    info = read_archive(archive)
    figures = Figures()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        root = Path(tmp)
        prepared = _prepare_stock(info.settings, root / "stock", figures, progress) if options.with_stock else None
        if options.with_ceiling:
            _ceiling(archive, options, figures, progress)
        _ours(archive, root / "ours", options, figures, progress)
        if prepared is not None:
            _stock(prepared, info.torch_threads, root / "stock", options, figures, progress)
        if isinstance(full_decode, Path):
            _full_decode(full_decode, root / "full", options, figures, progress)
        else:
            figures.errors["large_full"] = full_decode
    figures.load_average = (before, os.getloadavg()[0])
    return figures


def _ceiling(archive: Path, options: CompareOptions, figures: Figures, progress: Callable[[str], None]) -> None:
    """The archive's handler in process with the same workers x threads, at batch 1 and at its batch size."""
    info = read_archive(archive)
    for batch in sorted({1, info.settings["batchSize"]}):
        progress(f"in process: {info.settings['maxWorkers']} process(es) x {info.torch_threads} thread(s), batches of {batch} ...")
        figures.ceilings.append(ceiling(archive, options.body.data, options.body.content_type, processes=info.settings["maxWorkers"],
                                        threads=info.torch_threads, batch_size=batch, seconds=options.seconds, warmup=options.warmup))
        progress(f"  {figures.ceilings[-1].summary()}")


def _closed(server: BenchServer, model: str, body: Body, options: CompareOptions) -> ClosedRun:
    """A warm-up, then the measured closed-loop window, with what the server saw during it.

    The window is ``options.seconds`` unless the warm-up showed answers so slow that it would hold
    few rounds of requests: then it lasts about five latencies (at most MAX_WINDOW s)."""
    url = server.url(model)
    warm = run_wrk(url, body.data, body.content_type, server.token, connections=options.connections, seconds=options.warmup)
    latency = options.connections / warm.throughput if warm.throughput > 0 else MAX_WINDOW
    window = min(MAX_WINDOW, max(options.seconds, 5 * latency))
    mark, counted = server.batch_mark(), server.counters(model)
    result = server.watched(lambda: run_wrk(url, body.data, body.content_type, server.token, connections=options.connections,
                                             seconds=window))
    return ClosedRun(result, dict(server.batches_since(mark)), server.counters(model) - counted)


def _ours(archive: Path, root: Path, options: CompareOptions, figures: Figures, progress: Callable[[str], None]) -> None:
    info = read_archive(archive)
    progress(f"ours: serving {archive.name} with its shipped settings ...")
    with bench_server([archive], root, load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
        url, token, body = server.url(info.name), server.token, options.body
        run = _closed(server, info.name, body, options)
        figures.ours, figures.batches, figures.frontend["ours"] = run.result, run.batches, run.frontend
        progress(f"  closed loop: {figures.ours.summary()}")
        figures.unloaded = server.watched(lambda: sequential(url, body.data, body.content_type, token, count=options.unloaded_requests))
        progress(f"  unloaded: {figures.unloaded.summary(with_rate=False)}")
        rate = options.open_fraction * figures.ours.throughput
        if rate > 0:
            figures.open = server.watched(lambda: open_loop(url, body.data, body.content_type, token, rate=rate,
                                                            seconds=options.open_seconds))
            progress(f"  open loop: {figures.open.summary()}")
        large = options.large
        figures.large_ours = server.watched(lambda: sequential(url, large.data, large.content_type, token, count=options.large_requests))
        progress(f"  12-MP, unloaded: {figures.large_ours.summary(with_rate=False)}")


def _full_decode(archive: Path, root: Path, options: CompareOptions, figures: Figures, progress: Callable[[str], None]) -> None:
    info = read_archive(archive)
    progress(f"full decode: serving {archive.name} rebuilt with {FULL_DECODE} ...")
    with bench_server([archive], root, load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
        large = options.large
        figures.large_full = server.watched(lambda: sequential(server.url(info.name), large.data, large.content_type, server.token,
                                                               count=options.large_requests))
        progress(f"  12-MP, unloaded: {figures.large_full.summary(with_rate=False)}")


@dataclass(frozen=True)
class StockArchives:
    venv: Path
    tuned: Path  # with model-config.yaml: our workers, batch size, delay, response timeout
    tuned_config: dict[str, int]
    default: Path  # no model-config.yaml: TorchServe's defaults


def _prepare_stock(settings: dict[str, int], root: Path, figures: Figures, progress: Callable[[str], None]) -> StockArchives | None:
    """The stock venv, the traced network (checked against eager there) and both stock archives; None if that failed."""
    try:
        venv = stock.ensure_stock_venv(progress=progress)
        progress("stock: tracing EfficientNet-Lite0 to TorchScript, checking it in the stock venv ...")
        model = stock.trace_network(root / "model", _photo())
        check = stock.verify_in_stock(venv, model)
        progress(f"  torch {check['torch']}: max |logit - eager| {check['max_abs_diff']:.1e}, same top-1")
        tuned_config = {"minWorkers": settings["maxWorkers"], "maxWorkers": settings["maxWorkers"],
                        "batchSize": settings["batchSize"], "maxBatchDelay": settings["maxBatchDelay"],
                        "responseTimeout": settings["responseTimeout"]}
        tuned = stock.build_stock_archive(venv, model, LABELS, root / "store", "stock_tuned", tuned_config)
        default = stock.build_stock_archive(venv, model, LABELS, root / "store", "stock_default")
    except (stock.StockError, OSError) as err:
        figures.errors["stock_tuned"] = figures.errors["stock_default"] = f"stock handler not set up: {err}"
        progress(f"  {figures.errors['stock_tuned']}")
        return None
    return StockArchives(venv, tuned, tuned_config, default)


def _stock(prepared: StockArchives, threads: int, root: Path, options: CompareOptions, figures: Figures,
           progress: Callable[[str], None]) -> None:
    torchserve = prepared.venv / "bin" / "torchserve"
    workers = prepared.tuned_config["maxWorkers"]
    cores = str(len(os.sched_getaffinity(0)))
    progress(f"stock tuned: {prepared.tuned_config}, OMP_NUM_THREADS={threads} ...")
    with bench_server([prepared.tuned], root / "tuned", load=[prepared.tuned.name], env={"OMP_NUM_THREADS": str(threads)},
                      torchserve=torchserve, ready={"stock_tuned": workers}) as server:
        run = _closed(server, "stock_tuned", options.body, options)
        figures.stock_tuned, figures.frontend["stock tuned the same"] = run.result, run.frontend
    progress(f"  closed loop: {figures.stock_tuned.summary()}")
    progress(f"stock on TorchServe's defaults: {cores} workers (one per core), batch 1, no thread setting ...")
    with bench_server([prepared.default], root / "default", load=[prepared.default.name], torchserve=torchserve,
                      overrides={"default_workers_per_model": cores}, ready={"stock_default": int(cores)}) as server:
        run = _closed(server, "stock_default", options.body, options)
        figures.stock_default, figures.frontend["stock on defaults"] = run.result, run.frontend
    progress(f"  closed loop: {figures.stock_default.summary()}")


def _photo() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / "coffee.png"


def _failures(*results: LoadResult | None) -> str:
    failed = sum(r.failed for r in results if r is not None)
    return f"{failed} request(s) failed" if failed else ""


def ratios(figures: Figures, workers: int, threads: int, fraction: float) -> list[Ratio]:
    """The five ratio lines of the speed goals from what was measured."""
    nan = float("nan")

    def rate(result: LoadResult | None) -> float:
        return nan if result is None else result.throughput

    def missing(*keys: str) -> str:
        return next((figures.errors[key] for key in keys if key in figures.errors), "")

    best = max(figures.ceilings, key=lambda c: c.rate, default=None)
    ceiling_note = f" (best in-process batch: {best.batch_size})" if best else ""
    lines = [
        Ratio("ours (shipped) / stock image_classifier tuned the same", rate(figures.ours), rate(figures.stock_tuned),
              "images/s", 1.3, note=_failures(figures.ours, figures.stock_tuned), missing=missing("stock_tuned")),
        Ratio("ours (shipped) / stock on TorchServe's defaults", rate(figures.ours), rate(figures.stock_default),
              "images/s", 10.0, note=_failures(figures.ours, figures.stock_default), missing=missing("stock_default")),
        Ratio(f"served / in-process ceiling, {workers} x {threads}{ceiling_note}", rate(figures.ours),
              nan if best is None else best.rate, "images/s", 0.9, note=_failures(figures.ours),
              missing="" if best else "in-process ceiling not measured"),
        Ratio(f"open-loop p99 at {100 * fraction:.0f}% of capacity / unloaded p50",
              nan if figures.open is None else figures.open.p99_ms, nan if figures.unloaded is None else figures.unloaded.p50_ms,
              "ms", 3.0, at_least=False, note=_failures(figures.open, figures.unloaded)),
        Ratio("12-MP JPEG latency (p50), full decode / ours",
              nan if figures.large_full is None else figures.large_full.p50_ms,
              nan if figures.large_ours is None else figures.large_ours.p50_ms, "ms", 4.0,
              note=_failures(figures.large_full, figures.large_ours), missing=missing("large_full")),
    ]
    return lines


def render(archive: Path, options: CompareOptions, figures: Figures, built_from: str) -> str:
    """The whole printed report."""
    info = read_archive(archive)
    out = [f"machine:  {machine()}; 1-min load average {figures.load_average[0]:.1f} at the start, "
           f"{figures.load_average[1]:.1f} at the end (the builds before and the ceiling at the end are load of its own)",
           f"archive:  {archive_summary(info)}  ({built_from})",
           f"bodies:   {options.body.label}; 12-MP: {options.large.label}",
           f"load:     wrk closed loop, {options.connections} connections, {options.warmup:g} s warm-up + {options.seconds:g} s; "
           f"open loop {options.open_seconds:g} s at {100 * options.open_fraction:.0f}% of ours' closed-loop rate; "
           f"unloaded = {options.unloaded_requests} sequential requests ({options.large_requests} for 12-MP)",
           "", "measured:"]
    rows: Sequence[tuple[str, LoadResult | None]] = [
        ("ours, shipped settings, closed loop", figures.ours),
        ("ours, unloaded", figures.unloaded),
        ("ours, open loop", figures.open),
        ("ours, 12-MP JPEG, unloaded", figures.large_ours),
        ("full decode, 12-MP JPEG, unloaded", figures.large_full),
        ("stock image_classifier tuned the same, closed loop", figures.stock_tuned),
        ("stock image_classifier on defaults, closed loop", figures.stock_default),
    ]
    for label, result in rows:
        if result is not None:
            out.append(f"  {label}: {result.summary(with_rate=not result.generator.startswith('sequential'))}")
    if figures.batches:
        formed = ", ".join(f"{count} of {size}" for size, count in sorted(figures.batches.items()))
        out.append(f"  batches ours formed under the closed loop: {formed}")
    out += [f"  in TorchServe under the closed loop, {label}: {counters.summary()}" for label, counters in figures.frontend.items()]
    out += [f"  {c.summary()}" for c in figures.ceilings]
    out += [f"  not measured: {key}: {why}" for key, why in figures.errors.items()]
    out += ["", "ratios:", ratio_table(ratios(figures, info.settings["maxWorkers"], info.torch_threads, options.open_fraction))]
    cpu = max((r.client_cpu for _, r in rows if r is not None), default=0.0)
    others = max((r.cores.others for _, r in rows if r is not None and r.cores is not None), default=0.0)
    out.append(f"\nclient CPU: the load generators used at most {100 * cpu:.0f}% of one core "
               f"({'competes with the server on these cores' if cpu > 0.05 else 'negligible'}); processes outside the "
               f"benchmark kept up to {others:.2f} cores busy during a measured run"
               f"{' (the machine was shared: figures are pessimistic)' if others > DISTURBED else ''}.")
    return "\n".join(out)
