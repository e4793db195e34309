"""The one command: every ratio of the speed goals, measured side by side in rounds.

This machine's speed varies more than the margins the goals test, in two ways: over minutes, and
from one process start to the next (the same archive, served again after a restart, can run 20 %
faster or slower, steady for as long as that server lives; so can the model alone). So the
figures that are ratios of two measurements are taken in **rounds**, and every round starts its
servers afresh and measures, back to back,

1. the in-process ceiling of our archive (same workers x threads; both batch sizes in round 1,
   then the better one),
2. ours with its shipped settings: closed loop (capacity), unloaded latency, an open loop at a
   fraction of that round's capacity, and the 12-MP photo unloaded, on ours and (on the same
   server, under another model name) on the archive rebuilt with ``preprocess.draft=false``;
3. the stock ``image_classifier`` with the same network as TorchScript, tuned like ours (same
   workers, batch size and delay, ``OMP_NUM_THREADS`` = our torch threads): closed loop;

ours and the stock handler take turns going first. A ratio is the median of its per-round ratios;
the report shows their range. Once after the rounds: the stock handler on TorchServe's defaults
(workers = cores, batch 1, no thread setting).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import stock
from benchmarks.bodies import Body
from benchmarks.inprocess import Ceiling, ceiling
from benchmarks.report import Ratio, machine, ratio_table
from benchmarks.sequential import sequential
from benchmarks.servers import REPO, BenchServer, FrontendCounters, bench_server, place
from benchmarks.sweep import DISTURBED
from markit.archive.mar_file import MarInfo, read_mar
from markit.ops.launch import WORKER_ENVIRONMENT
from markit.ops.load.openloop import WARMUP, open_loop
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["FULL_DECODE", "CompareOptions", "Figures", "Round", "archive_summary", "compare", "ratios", "render"]

FULL_DECODE = "preprocess.draft=false"
FULL_SUFFIX = "_full_decode"  # the full-decode archive's file and model name: ours' name + this
MAX_WINDOW = 120.0  # s: the longest closed-loop window (for answers slower than the default window allows)
LABELS = REPO / "examples" / "efficientnet_lite0" / "build" / "labels.txt"


@dataclass(frozen=True)
class CompareOptions:
    body: Body
    large: Body  # the 12-MP photo
    connections: int = 8
    seconds: float = 10.0  # each closed-loop and in-process window, after ``warmup``
    warmup: float = 3.0
    rounds: int = 3
    open_fraction: float = 0.7  # the open loop's rate, as a fraction of ours' closed-loop capacity in the same round
    open_seconds: float = 15.0
    open_warmup: float = WARMUP  # s at the open loop's rate before its counted window (connections opened, not counted)
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
class Round:
    """What one round measured back to back; a figure stays None when it was not measured."""

    ceiling: Ceiling | None = None  # the best in-process batch of this round
    ours: LoadResult | None = None
    unloaded: LoadResult | None = None
    open: LoadResult | None = None
    large_ours: LoadResult | None = None  # the 12-MP photo, unloaded
    large_full: LoadResult | None = None  # the same on the archive rebuilt with full decoding
    stock_tuned: LoadResult | None = None


@dataclass
class Figures:
    """Everything measured; a figure stays None (and its error a string) when it could not be measured."""

    rounds: list[Round] = field(default_factory=list)
    frontend: dict[str, FrontendCounters] = field(default_factory=dict)  # per server, over its closed-loop windows
    batches: dict[int, int] = field(default_factory=dict)
    ceilings: list[Ceiling] = field(default_factory=list)  # every in-process run, in order
    stock_default: LoadResult | None = None
    errors: dict[str, str] = field(default_factory=dict)
    load_average: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average before and after

    def all(self, name: str) -> list[LoadResult]:
        """Every round's ``name`` result that was measured."""
        return [result for r in self.rounds if (result := getattr(r, name)) is not None]


def archive_summary(info: MarInfo) -> str:
    """Name, version, model format and serving section, as the archive declares them."""
    settings = info.settings
    return (f"{info.name} {info.version}, model format {info.model_format}; serving: workers {settings['maxWorkers']}, "
            f"torch_threads {info.torch_threads}, batch_size {settings['batchSize']}, max_batch_delay {settings['maxBatchDelay']}, "
            f"response_timeout {settings['responseTimeout']}")


def compare(archive: Path, full_decode: Path | str, options: CompareOptions, progress: Callable[[str], None]) -> Figures:
    """Measure every round, then what is measured once; ``full_decode`` is the rebuilt archive, or why there is none.

    Everything that is set up (the stock venv, the traced network, the stock archives) is made
    first, so the rounds run back to back."""
    info = read_mar(archive)
    figures = Figures()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        root = Path(tmp)
        prepared = _prepare_stock(info.settings, root / "stock", figures, progress) if options.with_stock else None
        if not options.with_stock:
            figures.errors["stock_tuned"] = figures.errors["stock_default"] = "--no-stock"
        full = None
        if isinstance(full_decode, Path):
            full = root / f"{info.name}{FULL_SUFFIX}.mar"  # beside ours in one model store: another file name
            place(full_decode, full)
        else:
            figures.errors["large_full"] = full_decode
        for number in range(1, options.rounds + 1):
            progress(f"round {number} of {options.rounds}:")
            figures.rounds.append(_round(number, archive, info, full, prepared, root / f"round{number}", options, figures, progress))
        if prepared is not None:
            _stock_default(prepared, root / "default", options, figures, progress)
    figures.load_average = (before, os.getloadavg()[0])
    return figures


def _round(number: int, archive: Path, info: MarInfo, full: Path | None, prepared: StockArchives | None, root: Path,
           options: CompareOptions, figures: Figures, progress: Callable[[str], None]) -> Round:
    """The ceiling, then ours and the stock handler tuned the same, each on a server started for this
    round (which of the two goes first alternates)."""
    measured = Round()
    if options.with_ceiling:
        measured.ceiling = _ceiling(archive, info, options, figures, progress)
    sides: list[Callable[[], None]] = [lambda: _ours(archive, info, full, root / "ours", measured, options, figures, progress)]
    if prepared is not None:
        sides.append(lambda: _stock_tuned(prepared, info.torch_threads, root / "tuned", measured, options, figures, progress))
    for side in sides if number % 2 else reversed(sides):
        side()
    return measured


def _ceiling(archive: Path, info: MarInfo, options: CompareOptions, figures: Figures,
             progress: Callable[[str], None]) -> Ceiling:
    """The archive's handler in process with the same workers x threads: at batch 1 and at its batch
    size in the first round, then at whichever of the two was faster."""
    batches = sorted({1, info.settings["batchSize"]})
    if figures.ceilings:
        batches = [max(figures.ceilings, key=lambda c: c.rate).batch_size]
    runs = []
    for batch in batches:
        runs.append(ceiling(archive, options.body.data, options.body.content_type, processes=info.settings["maxWorkers"],
                            threads=info.torch_threads, batch_size=batch, seconds=options.seconds, warmup=options.warmup))
        progress(f"  {runs[-1].summary()}")
    figures.ceilings.extend(runs)
    return max(runs, key=lambda c: c.rate)


def _closed(server: BenchServer, model: str, label: str, options: CompareOptions, figures: Figures) -> ClosedRun:
    """A warm-up, then the measured closed-loop window, with what the server saw during it (added to
    ``figures.frontend[label]`` and, for our handler, ``figures.batches``).

    The window is ``options.seconds`` unless the warm-up showed answers so slow that it would hold
    few rounds of requests: then it lasts about five latencies (at most MAX_WINDOW s)."""
    url, body = server.url(model), options.body
    warm = run_wrk(url, body.data, body.content_type, server.token, connections=options.connections, seconds=options.warmup)
    latency = options.connections / warm.throughput if warm.throughput > 0 else MAX_WINDOW
    window = min(MAX_WINDOW, max(options.seconds, 5 * latency))
    mark, counted = server.batch_mark(), server.counters(model)
    result = server.watched(lambda: run_wrk(url, body.data, body.content_type, server.token, connections=options.connections,
                                             seconds=window))
    run = ClosedRun(result, dict(server.batches_since(mark)), server.counters(model) - counted)
    figures.frontend[label] = figures.frontend.get(label, FrontendCounters()) + run.frontend
    for size, count in run.batches.items():
        figures.batches[size] = figures.batches.get(size, 0) + count
    return run


def _ours(archive: Path, info: MarInfo, full: Path | None, root: Path, measured: Round, options: CompareOptions, figures: Figures,
          progress: Callable[[str], None]) -> None:
    """Ours with its shipped settings: closed loop, unloaded, open loop, the 12-MP photo; and the
    12-MP photo on ``full`` (the full-decode archive, registered beside ours once ours is measured)."""
    progress(f"  ours: serving {archive.name} with its shipped settings ...")
    workers = info.settings["maxWorkers"]
    with bench_server([archive, *([full] if full else [])], root, load=[info.mar_name], ready={info.name: workers}) as server:
        url, token, body = server.url(info.name), server.token, options.body
        measured.ours = _closed(server, info.name, "ours", options, figures).result
        progress(f"  ours, closed loop: {measured.ours.summary()}")
        measured.unloaded = server.watched(lambda: sequential(url, body.data, body.content_type, token,
                                                              count=options.unloaded_requests))
        progress(f"  ours, unloaded: {measured.unloaded.summary(with_rate=False)}")
        rate = options.open_fraction * measured.ours.throughput
        if rate > 0:
            measured.open = server.watched(lambda: open_loop(url, body.data, body.content_type, token, rate=rate,
                                                             seconds=options.open_seconds, warmup=options.open_warmup))
            progress(f"  ours, open loop: {measured.open.summary()}")
        photo = options.large
        measured.large_ours = server.watched(lambda: sequential(url, photo.data, photo.content_type, token,
                                                                count=options.large_requests))
        progress(f"  ours, 12-MP, unloaded: {measured.large_ours.summary(with_rate=False)}")
        if full is not None:
            name = info.name + FULL_SUFFIX
            server.register(full.name, model_name=name)
            server.wait_workers(name, workers)
            measured.large_full = server.watched(lambda: sequential(server.url(name), photo.data, photo.content_type, token,
                                                                    count=options.large_requests))
            progress(f"  full decode, 12-MP, unloaded: {measured.large_full.summary(with_rate=False)}")


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


def _stock_tuned(prepared: StockArchives, threads: int, root: Path, measured: Round, options: CompareOptions,
                 figures: Figures, progress: Callable[[str], None]) -> None:
    progress(f"  stock tuned: serving {prepared.tuned_config}, OMP_NUM_THREADS={threads} ...")
    workers = prepared.tuned_config["maxWorkers"]
    with bench_server([prepared.tuned], root, load=[prepared.tuned.name], env={"OMP_NUM_THREADS": str(threads)},
                      torchserve=prepared.venv / "bin" / "torchserve", ready={"stock_tuned": workers}, unpack=False) as server:
        measured.stock_tuned = _closed(server, "stock_tuned", "stock tuned the same", options, figures).result
    progress(f"  stock tuned the same, closed loop: {measured.stock_tuned.summary()}")


def _stock_default(prepared: StockArchives, root: Path, options: CompareOptions, figures: Figures,
                   progress: Callable[[str], None]) -> None:
    cores = str(len(os.sched_getaffinity(0)))
    progress(f"stock on TorchServe's defaults: {cores} workers (one per core), batch 1, no thread setting ...")
    untuned = {name: None for name in WORKER_ENVIRONMENT}  # TorchServe's defaults: none of our worker environment
    defaults = {"default_workers_per_model": cores, "vmargs": ""}  # vmargs: the JVM's defaults too
    with bench_server([prepared.default], root, load=[prepared.default.name], torchserve=prepared.venv / "bin" / "torchserve",
                      overrides=defaults, env=untuned, ready={"stock_default": int(cores)}, unpack=False) as server:
        figures.stock_default = _closed(server, "stock_default", "stock on defaults", options, figures).result
    progress(f"  closed loop: {figures.stock_default.summary()}")


def _photo() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / "coffee.png"


def _failures(*results: LoadResult | None) -> str:
    failed = sum(r.failed for r in results if r is not None)
    return f"{failed} request(s) failed" if failed else ""


def _paired(what: str, pairs: Sequence[tuple[float, float]], unit: str, goal: float, *, at_least: bool = True,
            note: str = "", missing: str = "") -> Ratio:
    """A ratio line from per-round (numerator, denominator) pairs: the medians of both figures, and
    the per-round ratios (whose median is the line's value)."""
    if not pairs:
        return Ratio(what, float("nan"), float("nan"), unit, goal, at_least=at_least, note=note,
                     missing=missing or "not measured")
    numerators, denominators = [n for n, _ in pairs], [d for _, d in pairs]
    return Ratio(what, statistics.median(numerators), statistics.median(denominators), unit, goal, at_least=at_least,
                 note=note, missing=missing, rounds=tuple(n / d if d > 0 else float("nan") for n, d in pairs))


def ratios(figures: Figures, workers: int, threads: int, fraction: float) -> list[Ratio]:
    """The five ratio lines of the speed goals from what was measured."""
    nan = float("nan")
    rounds = figures.rounds

    def missing(*keys: str) -> str:
        return next((figures.errors[key] for key in keys if key in figures.errors), "")

    ours = figures.all("ours")
    best = max(figures.ceilings, key=lambda c: c.rate, default=None)
    ceiling_note = f" (best in-process batch: {best.batch_size})" if best else ""
    ours_rate = statistics.median(r.throughput for r in ours) if ours else nan
    default = figures.stock_default
    return [
        _paired("ours (shipped) / stock image_classifier tuned the same",
                [(r.ours.throughput, r.stock_tuned.throughput) for r in rounds if r.ours and r.stock_tuned], "images/s", 1.3,
                note=_failures(*ours, *figures.all("stock_tuned")), missing=missing("stock_tuned")),
        Ratio("ours (shipped) / stock on TorchServe's defaults", ours_rate, nan if default is None else default.throughput,
              "images/s", 10.0, note=_failures(*ours, default), missing=missing("stock_default")),
        _paired(f"served / in-process ceiling, {workers} x {threads}{ceiling_note}",
                [(r.ours.throughput, r.ceiling.rate) for r in rounds if r.ours and r.ceiling], "images/s", 0.9,
                note=_failures(*ours), missing="" if best else "in-process ceiling not measured"),
        _paired(f"open-loop p99 at {100 * fraction:.0f}% of capacity / unloaded p50",
                [(r.open.p99_ms, r.unloaded.p50_ms) for r in rounds if r.open and r.unloaded], "ms", 3.0, at_least=False,
                note=_failures(*figures.all("open"), *figures.all("unloaded"))),
        _paired("12-MP JPEG latency (p50), full decode / ours",
                [(r.large_full.p50_ms, r.large_ours.p50_ms) for r in rounds if r.large_full and r.large_ours], "ms", 4.0,
                note=_failures(*figures.all("large_full"), *figures.all("large_ours")), missing=missing("large_full")),
    ]


def render(archive: Path, options: CompareOptions, figures: Figures, built_from: str) -> str:
    """The whole printed report."""
    info = read_mar(archive)
    out = [f"machine:  {machine()}; 1-min load average {figures.load_average[0]:.1f} at the start, "
           f"{figures.load_average[1]:.1f} at the end (the builds before and the benchmark itself are load of its own)",
           f"archive:  {archive_summary(info)}  ({built_from})",
           f"bodies:   {options.body.label}; 12-MP: {options.large.label}",
           f"load:     {options.rounds} rounds, each on freshly started servers: in-process ceiling; wrk closed loop on ours, "
           f"{options.connections} "
           f"connections, {options.warmup:g} s warm-up + {options.seconds:g} s; {options.unloaded_requests} sequential requests "
           f"(unloaded); open loop {options.open_warmup:g} s warm-up + {options.open_seconds:g} s at "
           f"{100 * options.open_fraction:.0f}% of the round's closed-loop rate; the stock handler tuned the same: closed loop "
           f"as ours; {options.large_requests} sequential 12-MP requests per archive.\n          Once: the stock handler on "
           "defaults: closed loop",
           "", "measured:"]
    rows: list[tuple[str, LoadResult | None]] = []
    for number, measured in enumerate(figures.rounds, 1):
        rows += [(f"round {number}, ours, shipped settings, closed loop", measured.ours),
                 (f"round {number}, ours, unloaded", measured.unloaded),
                 (f"round {number}, ours, open loop", measured.open),
                 (f"round {number}, ours, 12-MP JPEG, unloaded", measured.large_ours),
                 (f"round {number}, full decode, 12-MP JPEG, unloaded", measured.large_full),
                 (f"round {number}, stock image_classifier tuned the same, closed loop", measured.stock_tuned)]
    rows += [("stock image_classifier on defaults, closed loop", figures.stock_default)]
    for label, result in rows:
        if result is not None:
            out.append(f"  {label}: {result.summary(with_rate=not result.generator.startswith('sequential'))}")
    if figures.batches:
        formed = ", ".join(f"{count} of {size}" for size, count in sorted(figures.batches.items()))
        out.append(f"  batches ours formed under the closed loops: {formed}")
    out += [f"  in TorchServe under the closed loops, {label}: {counters.summary()}" for label, counters in figures.frontend.items()]
    out += [f"  {c.summary()}" for c in figures.ceilings]
    out += [f"  not measured: {key}: {why}" for key, why in figures.errors.items()]
    out += ["", "ratios (figures: medians over the rounds; ratio: the median of the per-round ratios, their range in brackets):",
            ratio_table(ratios(figures, info.settings["maxWorkers"], info.torch_threads, options.open_fraction))]
    cpu = max((r.client_cpu for _, r in rows if r is not None), default=0.0)
    others = max((r.cores.others for _, r in rows if r is not None and r.cores is not None), default=0.0)
    out.append(f"\nclient CPU: the load generators used at most {100 * cpu:.0f}% of one core "
               f"({'competes with the server on these cores' if cpu > 0.05 else 'negligible'}); processes outside the "
               f"benchmark kept up to {others:.2f} cores busy during a measured run"
               f"{' (the machine was shared: figures are pessimistic)' if others > DISTURBED else ''}.")
    return "\n".join(out)
