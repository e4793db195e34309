"""The one command: every ratio of the speed goals, measured side by side in rounds.

This machine's speed varies more than the margins the goals test, in two ways: over minutes, and
from one process start to the next (the same archive, served again after a restart, can run 20 %
faster or slower, steady for as long as that server lives; so can the model alone). So the
figures that are ratios of two measurements are taken in **rounds**, and every round starts its
servers afresh and measures, back to back,

1. the in-process ceiling of our archive (same workers x threads; both batch sizes in round 1,
   then the better one), and the model alone (same workers x threads, the archive's batch size), for the image
   archive and the text archive;
2. ours on TorchServe with its shipped settings: closed loop (capacity), unloaded latency, an open loop at a
   fraction of that round's capacity, a closed loop of the photo as JSON base64, and the 12-MP photo unloaded, on
   ours and (on the same server, under another model name) on the archive rebuilt with ``preprocess.draft=false``;
3. ours on the KServe runtime: the same, but the 12-MP photo;
4. the stock ``image_classifier`` subclassed to run our archive's ONNX graph, tuned like ours (same workers,
   batch size and delay, ``OMP_NUM_THREADS`` = our torch threads): closed loop;
5. LitServe on our ONNX graph (``litserve_peer.py``), the photo as JSON base64: closed loop;
6. the text archive on both engines and LitServe on its exported program, the same JSON string: closed loops.

The sides take turns going first. A ratio is the median of its per-round ratios; the report shows their range.
Once after the rounds: the stock handler with the network as TorchScript on TorchServe's defaults (workers =
cores, batch 1, no thread setting).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import litserve_peer, stock, stock_onnx
from benchmarks.bodies import Body, json_base64, json_text
from benchmarks.inprocess import Ceiling, ceiling
from benchmarks.report import Ratio, machine, ratio_table
from benchmarks.sequential import sequential
from benchmarks.servers import REPO, BenchServer, FrontendCounters, bench_server, place
from benchmarks.sides import Load, Target, closed_loop, kserve_runtime, latency_goal
from benchmarks.sweep import DISTURBED
from markit.archive.mar_file import MarInfo, read_mar
from markit.ops.launch import WORKER_ENVIRONMENT
from markit.ops.load.openloop import WARMUP
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
    with_litserve: bool = True
    text_archive: Path | None = None  # ours for text (MiniLM embeddings), against LitServe on the same program
    text: str = litserve_peer.SENTENCE  # the text body, as a JSON string

    @property
    def load(self) -> Load:
        return Load(self.connections, self.seconds, self.warmup, self.unloaded_requests, self.open_fraction,
                    self.open_seconds, self.open_warmup)


@dataclass(frozen=True)
class ClosedRun:
    result: LoadResult
    batches: dict[int, int]  # batch size -> how many the project's handler logged (empty for the stock one)
    frontend: FrontendCounters  # TorchServe's own counters over the window


@dataclass
class Round:
    """What one round measured back to back; a figure stays None when it was not measured."""

    ceiling: Ceiling | None = None  # the best in-process batch of this round
    forward: Ceiling | None = None  # the model alone, same processes x threads and batch
    ours: LoadResult | None = None
    unloaded: LoadResult | None = None
    open: LoadResult | None = None
    large_ours: LoadResult | None = None  # the 12-MP photo, unloaded
    large_full: LoadResult | None = None  # the same on the archive rebuilt with full decoding
    ours_json: LoadResult | None = None  # ours, the photo as JSON base64 (as LitServe gets it)
    kserve_json: LoadResult | None = None  # the same on the KServe runtime
    kserve: LoadResult | None = None  # ours on the KServe runtime: closed loop, unloaded, open loop
    kserve_unloaded: LoadResult | None = None
    kserve_open: LoadResult | None = None
    stock_tuned: LoadResult | None = None  # the stock image_classifier on our ONNX graph, tuned the same
    litserve: LoadResult | None = None  # LitServe on our ONNX graph, JSON base64
    text_forward: Ceiling | None = None  # the text model alone
    text_ours: LoadResult | None = None
    text_kserve: LoadResult | None = None
    text_litserve: LoadResult | None = None


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

    Everything that is set up (the stock venv, the traced network, the stock archives, the LitServe venv and its
    check against our answers) is made first, so the rounds run back to back."""
    info = read_mar(archive)
    figures = Figures()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        root = Path(tmp)
        prepared = _prepare_stock(archive, info.settings, root / "stock", figures, progress) if options.with_stock else None
        if not options.with_stock:
            figures.errors["stock_tuned"] = figures.errors["stock_default"] = "--no-stock"
        peers = _prepare_litserve(archive, options, root / "litserve", figures, progress)
        full = None
        if isinstance(full_decode, Path):
            full = root / f"{info.name}{FULL_SUFFIX}.mar"  # beside ours in one model store: another file name
            place(full_decode, full)
        else:
            figures.errors["large_full"] = full_decode
        for number in range(1, options.rounds + 1):
            progress(f"round {number} of {options.rounds}:")
            figures.rounds.append(_round(number, archive, info, full, prepared, peers, root / f"round{number}", options, figures,
                                         progress))
        if prepared is not None:
            _stock_default(prepared, root / "default", options, figures, progress)
    figures.load_average = (before, os.getloadavg()[0])
    return figures


def _round(number: int, archive: Path, info: MarInfo, full: Path | None, prepared: StockArchives | None, peers: Path | None,
           root: Path, options: CompareOptions, figures: Figures, progress: Callable[[str], None]) -> Round:
    """The ceilings, then every side, each on a server started for this round (their order turns each round)."""
    measured = Round()
    if options.with_ceiling:
        measured.ceiling = _ceiling(archive, info, options, figures, progress)
        measured.forward = _forward(archive, info, options.body, options, progress)
        if options.text_archive is not None:
            measured.text_forward = _forward(options.text_archive, read_mar(options.text_archive), json_text(options.text),
                                             options, progress)
    sides: list[Callable[[], None]] = [lambda: _ours(archive, info, full, root / "ours", measured, options, figures, progress),
                                       lambda: _kserve(archive, root / "kserve", measured, options, progress)]
    if prepared is not None:
        sides.append(lambda: _stock_tuned(prepared, info.torch_threads, root / "tuned", measured, options, figures, progress))
    if peers is not None:
        sides.append(lambda: _litserve(peers, "image", archive, root / "litserve", measured, options, progress))
    if options.text_archive is not None:
        sides.append(lambda: _text(peers, root / "text", measured, options, progress))
    turn = (number - 1) % len(sides)
    for side in sides[turn:] + sides[:turn]:
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


def _forward(archive: Path, info: MarInfo, body: Body, options: CompareOptions, progress: Callable[[str], None]) -> Ceiling:
    """The model alone, the archive's workers x threads, at its batch size."""
    run = ceiling(archive, body.data, body.content_type, processes=info.settings["maxWorkers"], threads=info.torch_threads,
                  batch_size=info.settings["batchSize"], seconds=options.seconds, warmup=options.warmup, forward_only=True)
    progress(f"  {info.name}: {run.summary()}")
    return run


def _kserve(archive: Path, root: Path, measured: Round, options: CompareOptions, progress: Callable[[str], None]) -> None:
    """Ours on the KServe runtime (its defaults): closed loop, unloaded, open loop, and the photo as JSON base64."""
    progress(f"  ours on the KServe runtime: serving {archive.name} ...")
    with kserve_runtime([archive], root) as (_, target):
        measured.kserve = closed_loop(target, options.body, options.load)
        progress(f"  KServe runtime, closed loop: {measured.kserve.summary()}")
        latency = latency_goal(target, options.body, options.load, measured.kserve.throughput)
        measured.kserve_json = closed_loop(target, _peer_body("image", options), options.load)
        progress(f"  KServe runtime, the photo as JSON base64, closed loop: {measured.kserve_json.summary()}")
    measured.kserve_unloaded, measured.kserve_open = latency.unloaded, latency.open
    progress(f"  KServe runtime, unloaded: {latency.unloaded.summary(with_rate=False)}")
    if latency.open is not None:
        progress(f"  KServe runtime, open loop: {latency.open.summary()}")


def _prepare_litserve(archive: Path, options: CompareOptions, root: Path, figures: Figures,
                      progress: Callable[[str], None]) -> Path | None:
    """The LitServe venv, and each LitServe server checked against our answers on the body it will get; None (and
    why) if that failed."""
    if not options.with_litserve:
        figures.errors["litserve"] = "--no-litserve"
        return None
    try:
        venv = litserve_peer.ensure_litserve_venv(progress=progress)
        for kind, path in (("image", archive), ("text", options.text_archive)):
            if path is not None:
                with _litserve_server(venv, kind, path, root / kind) as peer:
                    agreement = litserve_peer.verify_litserve(peer, path, _peer_body(kind, options))
                progress(f"  LitServe ({kind}) agrees with ours: {agreement.summary()}")
    except (litserve_peer.LitServeError, OSError) as err:
        figures.errors["litserve"] = f"LitServe not set up: {err}"
        progress(f"  {figures.errors['litserve']}")
        return None
    return venv


def _litserve_server(venv: Path, kind: str, archive: Path, root: Path) -> Any:  # a context manager of a LitServePeer
    """LitServe serving ``archive``'s graph with its serving settings and our workers' environment."""
    return litserve_peer.start_litserve(kind, archive, root, venv=venv, env=WORKER_ENVIRONMENT)


def _peer_body(kind: str, options: CompareOptions) -> Body:
    """What both ours and LitServe get: the photo as JSON base64, or the text as a JSON string."""
    return json_base64(options.body) if kind == "image" else json_text(options.text)


def _litserve(venv: Path, kind: str, archive: Path, root: Path, measured: Round, options: CompareOptions,
              progress: Callable[[str], None]) -> None:
    """LitServe serving ``archive``'s graph: a closed loop of the same body ours gets."""
    with _litserve_server(venv, kind, archive, root) as peer:
        result = closed_loop(Target(peer.url, peer.token, peer.group, peer.headers), _peer_body(kind, options), options.load)
    setattr(measured, "litserve" if kind == "image" else "text_litserve", result)
    progress(f"  LitServe ({kind}), closed loop: {result.summary()}")


def _text(peers: Path | None, root: Path, measured: Round, options: CompareOptions, progress: Callable[[str], None]) -> None:
    """Ours on the text archive (its shipped settings) on TorchServe and on the KServe runtime, then LitServe on its
    program, the same body."""
    archive = options.text_archive
    assert archive is not None
    info = read_mar(archive)
    progress(f"  ours (text): serving {archive.name} with its shipped settings ...")
    with bench_server([archive], root / "ours", load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
        target = Target(server.url(info.name), server.token, server.process.process.pid if server.process.process else None)
        measured.text_ours = closed_loop(target, _peer_body("text", options), options.load)
    progress(f"  ours (text), closed loop: {measured.text_ours.summary()}")
    with kserve_runtime([archive], root / "kserve") as (_, target):
        measured.text_kserve = closed_loop(target, _peer_body("text", options), options.load)
    progress(f"  ours (text) on the KServe runtime, closed loop: {measured.text_kserve.summary()}")
    if peers is not None:
        _litserve(peers, "text", archive, root / "litserve", measured, options, progress)


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
    """Ours with its shipped settings: closed loop, unloaded, open loop, closed loop of the photo as JSON base64,
    the 12-MP photo; and the 12-MP photo on ``full`` (the full-decode archive, registered beside ours once ours is measured)."""
    progress(f"  ours: serving {archive.name} with its shipped settings ...")
    workers = info.settings["maxWorkers"]
    with bench_server([archive, *([full] if full else [])], root, load=[info.mar_name], ready={info.name: workers}) as server:
        url, token, body = server.url(info.name), server.token, options.body
        measured.ours = _closed(server, info.name, "ours", options, figures).result
        progress(f"  ours, closed loop: {measured.ours.summary()}")
        target = Target(url, token, server.process.process.pid if server.process.process else None)
        latency = latency_goal(target, body, options.load, measured.ours.throughput)
        measured.unloaded, measured.open = latency.unloaded, latency.open
        progress(f"  ours, unloaded: {measured.unloaded.summary(with_rate=False)}")
        if measured.open is not None:
            progress(f"  ours, open loop: {measured.open.summary()}")
        measured.ours_json = closed_loop(target, _peer_body("image", options), options.load)
        progress(f"  ours, the photo as JSON base64, closed loop: {measured.ours_json.summary()}")
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
    # the stock handler subclassed to run our archive's model/model.onnx in ONNX Runtime, with tuned_config; None
    # when that could not be set up (figures.errors["stock_onnx"] says why)
    onnx_tuned: Path | None = None


def _prepare_stock(archive: Path, settings: dict[str, int], root: Path, figures: Figures,
                   progress: Callable[[str], None]) -> StockArchives | None:
    """The stock venv, the traced network (checked against eager there) and both stock archives, and the ONNX
    peer's archive of ``archive``'s graph; None if the TorchScript part failed."""
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
    onnx_tuned = _prepare_stock_onnx(archive, venv, model, tuned_config, root, figures, progress)
    return StockArchives(venv, tuned, tuned_config, default, onnx_tuned)


def _prepare_stock_onnx(archive: Path, venv: Path, model: stock.StockModel, config: dict[str, int], root: Path, figures: Figures,
                        progress: Callable[[str], None]) -> Path | None:
    """The stock handler subclassed to run ``archive``'s ONNX graph (checked against eager in the stock venv),
    archived with ``config``; None (and why in ``figures.errors``) if that failed."""
    try:
        progress(f"stock ONNX: {archive.name}'s {stock_onnx.ONNX_ENTRY} through the subclassed handler in the stock venv ...")
        onnx = stock_onnx.extract_onnx(archive, root / "onnx")
        check = stock_onnx.verify_onnx_in_stock(venv, onnx, model.check)
        progress(f"  onnxruntime {check['onnxruntime']}: max |logit - eager| {check['max_abs_diff']:.1e}, same top-1")
        return stock_onnx.build_stock_onnx_archive(venv, onnx, LABELS, root / "store", "stock_onnx", config)
    except (stock.StockError, OSError) as err:
        figures.errors["stock_onnx"] = f"stock ONNX handler not set up: {err}"
        progress(f"  {figures.errors['stock_onnx']}")
        return None


def _stock_tuned(prepared: StockArchives, threads: int, root: Path, measured: Round, options: CompareOptions,
                 figures: Figures, progress: Callable[[str], None]) -> None:
    """The stock image_classifier on our ONNX graph, with our serving settings and worker environment: closed loop."""
    if prepared.onnx_tuned is None:
        return
    progress(f"  stock on our ONNX graph: serving {prepared.tuned_config}, OMP_NUM_THREADS={threads} ...")
    workers = prepared.tuned_config["maxWorkers"]
    with bench_server([prepared.onnx_tuned], root, load=[prepared.onnx_tuned.name], env={"OMP_NUM_THREADS": str(threads)},
                      torchserve=prepared.venv / "bin" / "torchserve", ready={"stock_onnx": workers}, unpack=False) as server:
        measured.stock_tuned = _closed(server, "stock_onnx", "stock on our ONNX graph, tuned the same", options, figures).result
    progress(f"  stock on our ONNX graph, closed loop: {measured.stock_tuned.summary()}")


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
    """The ratio lines of the speed goals from what was measured."""
    nan = float("nan")
    rounds = figures.rounds

    def missing(*keys: str) -> str:
        return next((figures.errors[key] for key in keys if key in figures.errors), "")

    def pairs(numerator: str, denominator: str, figure: Callable[[Any], float],
              of_denominator: Callable[[Any], float] | None = None) -> list[tuple[float, float]]:
        return [(figure(getattr(r, numerator)), (of_denominator or figure)(getattr(r, denominator))) for r in rounds
                if getattr(r, numerator) is not None and getattr(r, denominator) is not None]

    def failures(*names: str) -> str:
        return _failures(*(result for name in names for result in figures.all(name)))

    def throughput(result: LoadResult) -> float:
        return result.throughput

    ours = figures.all("ours")
    best = max(figures.ceilings, key=lambda c: c.rate, default=None)
    ceiling_note = f" (best in-process batch: {best.batch_size})" if best else ""
    ours_rate = statistics.median(r.throughput for r in ours) if ours else nan
    default = figures.stock_default
    at = f"{100 * fraction:.0f}% of capacity"
    return [
        _paired("ours / stock image_classifier on our ONNX graph, tuned the same", pairs("ours", "stock_tuned", throughput),
                "images/s", 1.3, note=failures("ours", "stock_tuned"), missing=missing("stock_tuned", "stock_onnx")),
        _paired("TorchServe / LitServe on our ONNX graph (JSON base64)", pairs("ours_json", "litserve", throughput),
                "images/s", 1.3, note=failures("ours_json", "litserve"), missing=missing("litserve")),
        _paired("KServe runtime / LitServe on our ONNX graph (JSON base64)", pairs("kserve_json", "litserve", throughput),
                "images/s", 1.3, note=failures("kserve_json", "litserve"), missing=missing("litserve")),
        _paired("TorchServe / LitServe on our MiniLM program (text)", pairs("text_ours", "text_litserve", throughput), "texts/s",
                1.3, note=failures("text_ours", "text_litserve"), missing=missing("litserve")),
        _paired("KServe runtime / LitServe on our MiniLM program (text)", pairs("text_kserve", "text_litserve", throughput),
                "texts/s", 1.3, note=failures("text_kserve", "text_litserve"), missing=missing("litserve")),
        _paired(f"TorchServe: served / the model alone, {workers} x {threads}", pairs("ours", "forward", _rate),
                "images/s", 0.8, note=failures("ours")),
        _paired(f"KServe runtime: served / the model alone, {workers} x {threads}", pairs("kserve", "forward", _rate),
                "images/s", 0.8, note=failures("kserve")),
        _paired("text, TorchServe: served / the model alone", pairs("text_ours", "text_forward", _rate),
                "texts/s", 0.8, note=failures("text_ours")),
        _paired("text, KServe runtime: served / the model alone", pairs("text_kserve", "text_forward", _rate),
                "texts/s", 0.8, note=failures("text_kserve")),
        _paired(f"TorchServe: open-loop p99 at {at} / unloaded p50", pairs("open", "unloaded", _p99, _p50), "ms", 3.0,
                at_least=False, note=failures("open", "unloaded")),
        _paired(f"KServe runtime: open-loop p99 at {at} / unloaded p50", pairs("kserve_open", "kserve_unloaded", _p99, _p50),
                "ms", 3.0, at_least=False, note=failures("kserve_open", "kserve_unloaded")),
        _paired(f"served / in-process ceiling, {workers} x {threads}{ceiling_note}", pairs("ours", "ceiling", _rate),
                "images/s", 0.9, note=failures("ours"), missing="" if best else "in-process ceiling not measured"),
        Ratio("ours (shipped) / stock TorchScript on TorchServe's defaults", ours_rate,
              nan if default is None else default.throughput, "images/s", 10.0, note=_failures(*ours, default),
              missing=missing("stock_default")),
        _paired("12-MP JPEG latency (p50), full decode / ours", pairs("large_full", "large_ours", _p50), "ms", 4.0,
                note=failures("large_full", "large_ours"), missing=missing("large_full")),
    ]


# each round's load results as the report lists them: Round's field, what it is
ROUND_ROWS = (("ours", "ours, shipped settings, closed loop"), ("unloaded", "ours, unloaded"), ("open", "ours, open loop"),
              ("ours_json", "ours, the photo as JSON base64, closed loop"), ("large_ours", "ours, 12-MP JPEG, unloaded"),
              ("large_full", "full decode, 12-MP JPEG, unloaded"), ("kserve", "ours on the KServe runtime, closed loop"),
              ("kserve_unloaded", "ours on the KServe runtime, unloaded"), ("kserve_open", "ours on the KServe runtime, open loop"),
              ("kserve_json", "ours on the KServe runtime, the photo as JSON base64, closed loop"),
              ("stock_tuned", "stock image_classifier on our ONNX graph, tuned the same, closed loop"),
              ("litserve", "LitServe on our ONNX graph, JSON base64, closed loop"), ("text_ours", "ours (text), closed loop"),
              ("text_kserve", "ours (text) on the KServe runtime, closed loop"), ("text_litserve", "LitServe (text), closed loop"))


def _text_summary(options: CompareOptions) -> str:
    if options.text_archive is None:
        return "not measured (no text archive)"
    info = read_mar(options.text_archive)
    return (f"{archive_summary(info)}; body: {json_text(options.text).label}; the same closed loop on ours (TorchServe, the "
            "KServe runtime) and on LitServe")


def _rate(result: LoadResult | Ceiling) -> float:
    """Requests/s of a load result, images/s of an in-process run."""
    return result.rate if isinstance(result, Ceiling) else result.throughput


def _p99(result: LoadResult) -> float:
    return result.p99_ms


def _p50(result: LoadResult) -> float:
    return result.p50_ms


def render(archive: Path, options: CompareOptions, figures: Figures, built_from: str) -> str:
    """The whole printed report."""
    info = read_mar(archive)
    out = [f"machine:  {machine()}; 1-min load average {figures.load_average[0]:.1f} at the start, "
           f"{figures.load_average[1]:.1f} at the end (the builds before and the benchmark itself are load of its own)",
           f"archive:  {archive_summary(info)}  ({built_from})",
           f"bodies:   {options.body.label}; 12-MP: {options.large.label}",
           f"load:     {options.rounds} rounds, each on freshly started servers, the sides in turn: the in-process ceiling "
           f"and the model alone; wrk closed loops of {options.connections} connections, {options.warmup:g} s warm-up + "
           f"{options.seconds:g} s, on every side; on ours (TorchServe and the KServe runtime) also {options.unloaded_requests} "
           f"sequential requests (unloaded) and an open loop {options.open_warmup:g} s warm-up + {options.open_seconds:g} s at "
           f"{100 * options.open_fraction:.0f}% of the round's closed-loop rate; {options.large_requests} sequential 12-MP "
           "requests per archive.\n          Once: the stock handler (TorchScript) on TorchServe's defaults: closed loop",
           f"text:     {_text_summary(options)}",
           "", "measured:"]
    rows: list[tuple[str, LoadResult | None]] = []
    for number, measured in enumerate(figures.rounds, 1):
        rows += [(f"round {number}, {label}", getattr(measured, name)) for name, label in ROUND_ROWS]
    rows += [("stock image_classifier on defaults, closed loop", figures.stock_default)]
    for label, result in rows:
        if result is not None:
            out.append(f"  {label}: {result.summary(with_rate=not result.generator.startswith('sequential'))}")
    if figures.batches:
        formed = ", ".join(f"{count} of {size}" for size, count in sorted(figures.batches.items()))
        out.append(f"  batches ours formed under the closed loops: {formed}")
    out += [f"  in TorchServe under the closed loops, {label}: {counters.summary()}" for label, counters in figures.frontend.items()]
    out += [f"  {c.summary()}" for c in figures.ceilings]
    out += [f"  round {number}, {what}: {run.summary()}" for number, measured in enumerate(figures.rounds, 1)
            for what, run in (("image model alone", measured.forward), ("text model alone", measured.text_forward)) if run]
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
