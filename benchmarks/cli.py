"""``python -m benchmarks [compare|sweep|load|fault|engines|g2p|detectors|pipelines|reliability] ...`` (``./scripts/benchmark.sh`` runs it).

    compare  (default) every ratio of the speed goals, side by side in rounds: ours / the stock
             handler tuned the same, ours / the stock handler on TorchServe's defaults, served /
             in-process ceiling, open-loop p99 / unloaded p50, 12-MP full decode / ours; then each
             detector served (detections/s, p99, each stage's cost) and ours / the stock object_detector
    sweep    workers x torch threads x batch size x batch delay for one archive: a table and the
             serving: section it recommends for this machine
    load     one archive with its own settings: closed loop, unloaded latency, open loop
    fault    workers SIGKILLed under load: failed requests as a caller sees them, with the client's
             retries and without (--engine kserve: one of the KServe runtime's --processes N)
    engines  one archive on TorchServe and on the KServe runtime, side by side in rounds: throughput,
             p50, p99, unloaded latency, and whether the KServe runtime is slower
    g2p      a seq2seq archive (default: the G2P example, ported and built): words/s greedy vs beam 5,
             one word and 16 per request, on TorchServe and the KServe runtime
    pipelines the pipelines (docs/pipelines.md): read_number's overhead against its steps called directly in
             process; the same pipeline as a TorchServe workflow (.war) against our archive, in rounds
             (throughput, p50, p99, unloaded p50, what each answers when a step fails); a three-step pipeline
             soaked at 50 connections (compare ends with it too)
    reliability  the reliability report (./scripts/reliability.sh), on TorchServe and the KServe runtime: bad
             inputs in real batches over every task, what a long or huge input costs, a soak, workers and
             runtime processes killed under load, tampered archives; exit 1 on any miss

The archive is ``--archive NAME.mar`` or built from ``--spec`` (default: the EfficientNet-Lite0
example) with any ``--set KEY=VALUE`` overrides; the body is the coffee photo as a 600x400 JPEG
unless ``--body FILE`` is given. Progress goes to stderr, the report to stdout and to
``docs/results/COMMAND.md`` (``fault-kserve.md`` for ``fault --engine kserve``) with the command, the date, the
commit and the machine; ``--results FILE`` writes elsewhere, ``--no-results`` only prints.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import results
from benchmarks.servers import REPO
from markit.errors import MarkitError, report

if TYPE_CHECKING:
    from benchmarks.reliability import Target

__all__ = ["main"]

COMMANDS = ("compare", "sweep", "capacity", "load", "fault", "engines", "g2p", "stages", "detectors", "pipelines", "reliability")
EXAMPLE_SPEC = REPO / "examples" / "efficientnet_lite0" / "spec.yaml"


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}")
    return values


def _delays(text: str) -> list[int]:
    values = _ints(text)
    if 0 in values:
        raise argparse.ArgumentTypeError("a batch delay of 0 cannot be shipped: TorchServe reads 0 in an archive's "
                                         "model-config.yaml as 'not set' (100 ms); use 1")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmark.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--archive", type=Path, help="an existing .mar (default: build --spec)")
    common.add_argument("--spec", type=Path, default=EXAMPLE_SPEC, help="the spec to build (default: the EfficientNet-Lite0 example)")
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="build the spec with this override (repeatable), as build_mar.sh --set")
    common.add_argument("--body", type=Path, help="request body file (default: the coffee photo as a 600x400 JPEG, quality 90)")
    common.add_argument("--content-type", help="the body's content type (default: from its file name)")
    common.add_argument("--connections", type=int, default=8, help="closed-loop requests in flight (default 8)")

    compare = commands.add_parser("compare", parents=[common], help="every ratio of the speed goals (default)")
    compare.add_argument("--rounds", type=int, default=3,
                         help="rounds of ceiling / ours / stock tuned the same on fresh servers; ratios are per-round medians (default 3)")
    compare.add_argument("--seconds", type=float, default=10.0, help="each closed-loop and in-process window (default 10)")
    compare.add_argument("--warmup", type=float, default=3.0, help="warm-up before each closed-loop and in-process window (default 3)")
    compare.add_argument("--open-seconds", type=float, default=15.0, help="each round's open-loop window, after a 2 s warm-up (default 15)")
    compare.add_argument("--open-fraction", type=float, default=0.7, help="open-loop rate / closed-loop capacity (default 0.7)")
    compare.add_argument("--unloaded-requests", type=int, default=40, help="sequential requests for the unloaded p50 (default 40)")
    compare.add_argument("--large-requests", type=int, default=10, help="sequential 12-MP requests per archive (default 10)")
    compare.add_argument("--full-decode-archive", type=Path,
                         help="with --archive: the same archive built with --set preprocess.draft=false")
    compare.add_argument("--no-stock", action="store_true", help="skip the stock handler (no stock venv needed)")
    compare.add_argument("--no-ceiling", action="store_true", help="skip the in-process ceiling")
    compare.add_argument("--no-detectors", action="store_true", help="skip the detectors and the stock object_detector")
    compare.add_argument("--detectors-store", type=Path,
                         help="a store holding faces.mar and digit_boxes.mar built from this checkout (default: build them)")
    compare.add_argument("--no-pipelines", action="store_true", help="skip the pipelines (their overhead, the workflow, the soak)")
    compare.add_argument("--store", type=Path, help="a store built by ./scripts/build_examples.sh from this checkout: the text "
                         "archive, the stages' examples and (unless given) the detectors come from it (default: build it, ~10 min)")
    compare.add_argument("--no-litserve", action="store_true", help="skip LitServe (no LitServe venv needed)")
    compare.add_argument("--no-text", action="store_true", help="skip the text archive's sides (ours and LitServe)")
    compare.add_argument("--no-stages", action="store_true", help="skip the stages of every task's example")
    compare.add_argument("--chart", type=Path, help="where the stages' chart goes (default: beside the results file, "
                         "NAME-stages.png; with --no-results, bench-stages.png in the working directory)")
    compare.add_argument("--pipelines-store", type=Path, help="a store holding the pipelines and their steps built from this "
                         "checkout (default: build them)")

    sweep = commands.add_parser("sweep", parents=[common], help="serving settings chosen by measurement")
    _sweep_options(sweep)

    capacity = commands.add_parser("capacity", parents=[common], help="markit capacity against the full sweep, same archive "
                                   "and body")
    capacity.add_argument("--p99", type=float, default=50.0, help="the p99 target in ms both choose within (default 50)")
    _sweep_options(capacity)

    load = commands.add_parser("load", parents=[common], help="one archive with its own settings under load")
    load.add_argument("--seconds", type=float, default=20.0)
    load.add_argument("--warmup", type=float, default=5.0)
    load.add_argument("--open-fraction", type=float, default=0.7, help="open-loop rate / closed-loop capacity (default 0.7)")
    load.add_argument("--rate", type=float, help="open-loop rate in requests/s (default: --open-fraction of the closed loop's)")
    load.add_argument("--unloaded-requests", type=int, default=40)
    load.add_argument("--config", dest="config", action="append", default=[], metavar="KEY=VALUE",
                      help="a TorchServe setting in place of config/config.properties' (repeatable); "
                           "e.g. vmargs= runs the frontend on the JVM's defaults")
    fault = commands.add_parser("fault", parents=[common], help="workers killed under load, seen through the client")
    fault.add_argument("--seconds", type=float, default=30.0, help="each run's window (default 30)")
    fault.add_argument("--kills", type=int, default=3, help="workers SIGKILLed per run, evenly spaced (default 3)")
    fault.add_argument("--clients", type=int, default=4, help="client threads in a closed loop (default 4)")
    fault.add_argument("--engine", choices=("torchserve", "kserve"), default="torchserve",
                       help="kill TorchServe's workers, or the KServe runtime's processes (default torchserve)")
    fault.add_argument("--processes", type=int, default=2, help="with --engine kserve: the runtime's --processes (default 2)")
    engines = commands.add_parser("engines", parents=[common], help="one archive on both engines, side by side")
    engines.add_argument("--rounds", type=int, default=3, help="rounds on fresh servers, engines alternating (default 3)")
    engines.add_argument("--seconds", type=float, default=15.0, help="each closed-loop window (default 15)")
    engines.add_argument("--warmup", type=float, default=5.0, help="warm-up before each window (default 5)")
    engines.add_argument("--unloaded-requests", type=int, default=40, help="sequential requests for the unloaded p50 (default 40)")
    engines.add_argument("--processes", type=_ints, default=[1, 2], help="the KServe runtime's --processes, each measured (default 1,2)")
    g2p = commands.add_parser("g2p", help="words/s of the G2P archive, greedy vs beam 5")
    g2p.add_argument("--archive", type=Path, help="a seq2seq .mar (default: examples/g2p_en/port.py builds one)")
    g2p.add_argument("--connections", type=int, default=8, help="closed-loop requests in flight (default 8)")
    g2p.add_argument("--rounds", type=int, default=1, help="rounds on fresh servers (default 1)")
    g2p.add_argument("--seconds", type=float, default=10.0, help="each closed-loop window (default 10)")
    g2p.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window (default 3)")
    g2p.add_argument("--unloaded-requests", type=int, default=30, help="sequential requests for the unloaded p50 (default 30)")
    stages = commands.add_parser("stages", help="where one request's time goes, stage by stage, in process")
    stages.add_argument("pairs", nargs="+", metavar="ARCHIVE[=BODY]", type=Path,
                        help="an archive and the file sent to it, e.g. model_store/faces.mar=examples/faces/build/group.png "
                             "(without =BODY: the archive's first golden example)")
    stages.add_argument("--repeat", type=int, default=30, help="requests measured per pair, after 3 of warm-up (default 30)")
    detectors = commands.add_parser("detectors", help="ours against TorchServe's stock object_detector on the same graph")
    detectors.add_argument("--archive", type=Path, default=REPO / "model_store" / "digit_boxes.mar",
                           help="the digit detector's archive (default model_store/digit_boxes.mar: build_examples.sh builds it)")
    detectors.add_argument("--body", type=Path, default=REPO / "examples" / "digit_boxes" / "build" / "golden" / "canvas_0.png",
                           help="the page sent (default: a held-out page of five digits that train.py writes)")
    detectors.add_argument("--connections", type=int, default=8, help="closed-loop requests in flight (default 8)")
    detectors.add_argument("--rounds", type=int, default=3, help="rounds on fresh servers (default 3)")
    detectors.add_argument("--seconds", type=float, default=10.0, help="each closed-loop window (default 10)")
    detectors.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window (default 3)")
    detectors.add_argument("--unloaded-requests", type=int, default=30, help="sequential requests for the unloaded p50 (default 30)")
    pipelines = commands.add_parser("pipelines", help="pipelines: overhead, a TorchServe workflow (.war) against ours, a soak")
    _pipeline_options(pipelines)
    reliability = commands.add_parser("reliability", help="the reliability report over an archive of every task")
    reliability.add_argument("--store", type=Path, default=REPO / "model_store", help="a store holding the example archives")
    reliability.add_argument("--soak-seconds", type=float, default=300.0, help="the soak's length (default 300)")
    reliability.add_argument("--fault-seconds", type=float, default=60.0, help="each worker-kill run's length (default 60)")
    reliability.add_argument("--kills", type=int, default=6, help="workers SIGKILLed per run (default 6)")
    for name, command in commands.choices.items():
        results.add_options(command, name, "; fault-kserve.md with --engine kserve" if name == "fault" else "")
    return parser


def _sweep_options(parser: argparse.ArgumentParser) -> None:
    """The sweep's grid and windows (sweep, and capacity's sweep)."""
    parser.add_argument("--workers", type=_ints, default=[1, 2], help="worker counts (default 1,2)")
    parser.add_argument("--threads", type=_ints, default=[1, 2], help="torch threads per worker (default 1,2)")
    parser.add_argument("--batch-sizes", type=_ints, default=[1, 2, 4, 8], help="batch sizes (default 1,2,4,8)")
    parser.add_argument("--delays", type=_delays, default=[1, 5, 20],
                       help="max batch delays in ms, at least 1: an archive's 0 means TorchServe's default 100 (default 1,5,20)")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)),
                       help="workers x threads may not exceed this (default: this machine's cores)")
    parser.add_argument("--seconds", type=float, default=8.0, help="each configuration's window (default 8)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window (default 3)")
    parser.add_argument("--open-seconds", type=float, default=12.0,
                       help="the tail check's open-loop window per candidate, after a 2 s warm-up (default 12)")
    parser.add_argument("--retries", type=int, default=1,
                       help="measure a setting again when other processes kept the cores busy meanwhile (default 1)")


def _results_name(args: argparse.Namespace) -> str:
    return "fault-kserve" if args.command == "fault" and args.engine == "kserve" else args.command


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*COMMANDS, "-h", "--help"):
        args_list.insert(0, "compare")
    args = _parser().parse_args(args_list)
    run = {"compare": _compare, "sweep": _sweep, "capacity": _capacity, "load": _load, "fault": _fault, "engines": _engines, "g2p": _g2p,
           "stages": _stages, "detectors": _detectors, "pipelines": _pipelines, "reliability": _reliability}[args.command]
    name = _results_name(args)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-build-") as built:
            return results.recorded(results.destination(args, name), name, f"python -m benchmarks {shlex.join(args_list)}",
                                    lambda: run(args, Path(built)))
    except MarkitError as err:
        return report("benchmark", err)
    except (OSError, ValueError, RuntimeError) as err:  # a measurement that went wrong: say what, without a traceback
        print(f"benchmark: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


def _key_value(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} vmargs=")
    return key.strip(), value


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _archive(args: argparse.Namespace, out: Path, extra: Sequence[str] = ()) -> tuple[Path, str]:
    """The archive to measure and where it came from."""
    if args.archive is not None and not extra:
        return args.archive, f"given: {args.archive}"
    from markit.builder import build_archive

    overrides = [*args.overrides, *extra]
    shown = "".join(f" --set {o}" for o in overrides)
    _progress(f"building {args.spec}{shown} ...")
    result = build_archive(args.spec, out, progress=lambda _: None, overrides=overrides)
    return result.path, f"built from {args.spec.relative_to(REPO) if args.spec.is_relative_to(REPO) else args.spec}{shown}"


def _body(args: argparse.Namespace):  # -> Body
    from benchmarks.bodies import coffee_jpeg, file_body

    return coffee_jpeg() if args.body is None else file_body(args.body, args.content_type)


def _compare(args: argparse.Namespace, built: Path) -> int:
    from benchmarks.bodies import large_jpeg
    from benchmarks.compare import FULL_DECODE, CompareOptions, compare, render
    from markit.builder import BuildError

    archive, origin = _archive(args, built / "ours")
    full: Path | str
    if args.full_decode_archive is not None:
        full = args.full_decode_archive
    elif args.archive is not None:
        full = "with --archive, give --full-decode-archive (the same archive built with --set preprocess.draft=false)"
    else:
        try:
            full, _ = _archive(args, built / "full", [FULL_DECODE])
        except BuildError as err:
            full = f"the spec cannot be built with --set {FULL_DECODE}: {err}"
    store = _examples_store(args, built) if not (args.no_text and args.no_stages) else None
    options = CompareOptions(body=_body(args), large=large_jpeg(), connections=args.connections, seconds=args.seconds,
                             warmup=args.warmup, rounds=args.rounds, open_fraction=args.open_fraction, open_seconds=args.open_seconds,
                             unloaded_requests=args.unloaded_requests, large_requests=args.large_requests,
                             with_stock=not args.no_stock, with_ceiling=not args.no_ceiling, with_litserve=not args.no_litserve,
                             text_archive=None if args.no_text or store is None else store / TEXT_ARCHIVE)
    figures = compare(archive, full, options, _progress)
    print(render(archive, options, figures, origin))
    if store is not None and not args.no_stages:
        print("\n" + _stage_report(args, archive, store))
    if not args.no_detectors:
        print("\n" + _detection(args, built, store))
    if not args.no_pipelines:
        print("\n" + _pipeline_report(_pipeline_defaults(args), built))
    return 0


TEXT_ARCHIVE = "minilm_embeddings.mar"
# one example per task (the image classifier is the archive compare measures): archive names in the store
STAGE_EXAMPLES = ("digit_boxes", "faces", "digit_segments", "digits", "minilm_topics", "minilm_embeddings", "weather_sf", "g2p_en",
                  "read_number")


def _examples_store(args: argparse.Namespace, built: Path) -> Path:
    """``--store``, else every example built into ``built`` by scripts/build_examples.sh (nothing pinned)."""
    if args.store is not None:
        missing = [name for name in (*STAGE_EXAMPLES, TEXT_ARCHIVE.removesuffix(".mar")) if not (args.store / f"{name}.mar").is_file()]
        if missing:
            raise ValueError(f"--store: {args.store / missing[0]}.mar does not exist (./scripts/build_examples.sh DIR builds it)")
        return args.store
    store = built / "examples"
    _progress(f"building every example into {store} (scripts/build_examples.sh, about 10 minutes) ...")
    subprocess.run([str(REPO / "scripts" / "build_examples.sh"), str(store)], check=True, cwd=REPO, stdout=sys.stderr,
                   env={**os.environ, "MODEL_PINS": ""})
    return store


def _stage_report(args: argparse.Namespace, archive: Path, store: Path) -> str:
    """Every task's example: its stages in process, then served unloaded on both engines; the table and the chart."""
    from benchmarks.chart import draw_stage_chart
    from benchmarks.report import machine
    from benchmarks.served_stages import measure_served, render_served
    from benchmarks.stages import measure_stages, render_stages
    from markit.ops.load.body import golden_body

    staged = []
    for path in (archive, *(store / f"{name}.mar" for name in STAGE_EXAMPLES)):
        body = _body(args) if path == archive else golden_body(path)
        _progress(f"stages: {path.name} <- {body.label} ...")
        staged.append((path, body, measure_stages(path, body)))
    shares = measure_served(staged, STAGE_REQUESTS, _progress)
    results = [stages for _, _, stages in staged]
    chart = draw_stage_chart(results, shares, _chart_path(args), "where a request's time goes: each task's example, "
                             "in process and served unloaded (each bar: 100 % of its time)")
    return "\n\n".join([f"stages of every task's example ({machine()})", render_stages(results, 30),
                          render_served(results, shares, STAGE_REQUESTS), f"chart: {chart}"])


STAGE_REQUESTS = 40


def _chart_path(args: argparse.Namespace) -> Path:
    if args.chart is not None:
        return args.chart
    path = results.destination(args, _results_name(args))
    return Path("bench-stages.png").resolve() if path is None else path.with_name(f"{path.stem}-stages.png")


def _detection(args: argparse.Namespace, built: Path, store: Path | None = None) -> str:
    """The detectors' part of compare: each detector served and staged, and the stock object_detector (from
    ``--detectors-store``, else ``store``, else built here)."""
    from benchmarks.bodies import file_body
    from benchmarks.detection import DETECTORS, STOCK_GRAPH, build_detectors, measure_detection, render_detection
    from benchmarks.detectors import DetectorOptions

    given = args.detectors_store or store
    if given is None:
        archives = build_detectors(built / "detectors", _progress)
    else:
        archives = {name: given / f"{name}.mar" for name in DETECTORS}
        missing = [str(path) for path in archives.values() if not path.is_file()]
        if missing:
            raise ValueError(f"--detectors-store: {missing[0]} does not exist (./scripts/build_examples.sh DIR builds it)")
    options = DetectorOptions(body=file_body(DETECTORS[STOCK_GRAPH]), connections=args.connections, seconds=args.seconds,
                              warmup=args.warmup, rounds=args.rounds)
    return render_detection(measure_detection(archives, options, built / "detection", _progress, with_stock=not args.no_stock),
                            options)


def _engines(args: argparse.Namespace, built: Path) -> int:
    from benchmarks.engines import EngineOptions, measure_engines, render_engines

    archive, origin = _archive(args, built / "ours")
    options = EngineOptions(body=_body(args), connections=args.connections, seconds=args.seconds, warmup=args.warmup,
                            rounds=args.rounds, unloaded_requests=args.unloaded_requests, processes=tuple(args.processes))
    print(render_engines(archive, options, measure_engines(archive, options, _progress), origin))
    return 0


def _stages(args: argparse.Namespace, _built: Path) -> int:
    from benchmarks.bodies import file_body
    from benchmarks.report import machine
    from benchmarks.stages import measure_stages, render_stages

    results = []
    for pair in args.pairs:
        archive, sep, body = str(pair).partition("=")
        _progress(f"{archive} <- {body or 'its golden example'} ...")
        results.append(measure_stages(Path(archive), file_body(Path(body)) if sep else None, args.repeat))
    print(machine())
    print(render_stages(results, args.repeat))
    return 0


def _detectors(args: argparse.Namespace, built: Path) -> int:
    from benchmarks.bodies import file_body
    from benchmarks.detectors import DetectorOptions, measure_detectors, render_detectors

    if not args.archive.is_file():
        raise ValueError(f"{args.archive} does not exist: ./scripts/build_examples.sh builds it (or pass --archive)")
    options = DetectorOptions(body=file_body(args.body), connections=args.connections, seconds=args.seconds, warmup=args.warmup,
                              rounds=args.rounds, unloaded_requests=args.unloaded_requests)
    runs = measure_detectors(args.archive, REPO / "examples" / "digit_boxes", options, _progress, built)
    print(render_detectors(args.archive, options, runs))
    return 0


def _pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, help="a store holding the pipelines and their steps built from this checkout "
                        "(default: build them: ./scripts/build_examples.sh DIR builds such a store)")
    parser.add_argument("--page", type=int, default=0,
                        help="which held-out page of examples/digit_boxes/train.py's golden seed to send (default 0: five digits)")
    parser.add_argument("--connections", type=int, default=8, help="closed-loop requests in flight (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds on fresh servers, the sides in turn (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each closed-loop window (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up before each window (default 3)")
    parser.add_argument("--unloaded-requests", type=int, default=30, help="sequential requests for the unloaded p50 (default 30)")
    parser.add_argument("--node-timeout-ms", type=int,
                        help="the workflow's timeout-ms for every node (default: TorchServe's 10000); a node answer "
                             "TorchServe 0.12 loses costs this long")
    parser.add_argument("--overhead-pages", type=int, default=64, help="held-out pages of the in-process overhead (default 64)")
    parser.add_argument("--soak-connections", type=int, default=50, help="the soak's requests in flight (default 50)")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="the soak's length (default 60)")


def _pipeline_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """The pipelines' options for compare: the subcommand's defaults, compare's rounds and windows, its store."""
    defaults = argparse.ArgumentParser(add_help=False)
    _pipeline_options(defaults)
    options = defaults.parse_args([])
    for name in ("rounds", "seconds", "warmup"):
        setattr(options, name, getattr(args, name))
    options.store = args.pipelines_store
    return options


def _pipelines(args: argparse.Namespace, built: Path) -> int:
    print(_pipeline_report(args, built))
    return 0


def _pipeline_report(args: argparse.Namespace, built: Path) -> str:
    """Overhead in process, the TorchServe workflow against ours, the three-step soak (benchmarks/pipelines.py)."""
    from benchmarks.digit_pages import number_page
    from benchmarks.pipelines import build_pipeline_store, build_say_number, measure_overhead, render_pipelines, soak
    from benchmarks.war import STEPS, build_war, ensure_archiver_venv
    from benchmarks.workflow import PipelineOptions, measure_pipelines, render_workflow
    from markit.archive.mar_file import read_mar

    store = args.store
    if store is None:
        store = build_pipeline_store(built / "pipelines-store", _progress)
    else:
        missing = [name for name in ("read_number.mar", *(f"{step}.mar" for step in STEPS), "g2p_en.mar") if not (store / name).is_file()]
        if missing:
            raise ValueError(f"--store: {store / missing[0]} does not exist (./scripts/build_examples.sh DIR builds the store)")
        if not (store / "say_number.mar").is_file():
            build_say_number(store)
    _progress("the pipeline's overhead against its steps called directly, in process ...")
    overhead = measure_overhead(store, pages=args.overhead_pages, rounds=args.rounds)
    war = build_war({step: read_mar(store / f"{step}.mar").settings for step in STEPS}, built / "workflows",
                    ensure_archiver_venv(progress=_progress), args.node_timeout_ms)
    body, number = number_page(args.page)
    options = PipelineOptions(body=body, number=number, connections=args.connections, seconds=args.seconds, warmup=args.warmup,
                              rounds=args.rounds, unloaded_requests=args.unloaded_requests, node_timeout_ms=args.node_timeout_ms)
    ours = store / "read_number.mar"
    runs = measure_pipelines(store, war, ours, options, built / "servers", _progress)
    _progress(f"soaking say_number at {args.soak_connections} connections for {args.soak_seconds:g} s ...")
    soaked = soak(store, built / "soak", args.soak_connections, args.soak_seconds)
    return render_pipelines(overhead, soaked) + "\n\n" + render_workflow(store, ours, options, runs)


def _g2p(args: argparse.Namespace, built: Path) -> int:
    import subprocess

    from benchmarks.g2p import G2POptions, measure_g2p, render_g2p

    archive = args.archive
    if archive is None:
        _progress("porting and building examples/g2p_en (examples/g2p_en/port.py) ...")
        subprocess.run([sys.executable, str(REPO / "examples" / "g2p_en" / "port.py"), "--output", str(built)], check=True,
                       stdout=sys.stderr)  # its check and quality figures, as progress; the report alone goes to stdout
        archive = built / "g2p_en.mar"
    options = G2POptions(connections=args.connections, seconds=args.seconds, warmup=args.warmup, rounds=args.rounds,
                         unloaded_requests=args.unloaded_requests)
    print(render_g2p(archive, options, measure_g2p(archive, options, _progress)))
    return 0


def _sweep(args: argparse.Namespace, built: Path) -> int:
    archive, origin = _archive(args, built)
    lines, _ = _swept(args, archive, origin, _body(args))
    print("\n".join(lines))
    return 0


def _swept(args: argparse.Namespace, archive: Path, origin: str, body: Any) -> tuple[list[str], list[Any]]:
    """The sweep of ``archive`` with ``body``: its report's lines, and the settings whose tail it checked."""
    from benchmarks import sweep
    from benchmarks.compare import archive_summary
    from benchmarks.report import machine
    from markit.archive.mar_file import read_mar

    info = read_mar(archive)
    threads = args.threads
    note = ""
    if not sweep.honours_thread_override(archive) and set(threads) != {info.torch_threads}:
        threads = [info.torch_threads]
        note = (f"note: this archive's run-time code does not read ARCHIVE_TORCH_THREADS, so only its own "
                f"torch_threads ({info.torch_threads}) is measured")
        _progress(note)
    settings = sweep.grid(args.workers, threads, args.batch_sizes, args.delays, cores=args.cores, connections=args.connections)
    if not settings:
        raise ValueError("no setting left after pruning (workers x threads <= cores, batch size <= connections)")
    _progress(f"sweep: {len(settings)} settings x ({args.warmup:g} s warm-up + {args.seconds:g} s) ...")
    measured = sweep.run_sweep(archive, body, settings, connections=args.connections, seconds=args.seconds,
                               warmup=args.warmup, retries=args.retries, progress=_progress)
    shortlist = sweep.candidates(measured)
    _progress(f"tail check: {len(shortlist)} setting(s) within {100 * sweep.CANDIDATES:.0f}% of the best: a closed-loop warm-up, "
              f"unloaded, then an open loop at {100 * sweep.OPEN_FRACTION:.0f}% of each one's rate for {args.open_seconds:g} s ...")
    checked = sweep.check_tails(archive, body, shortlist, seconds=args.open_seconds, warmup=args.warmup,
                                 connections=args.connections, progress=_progress)
    chosen = sweep.recommend(checked)
    disturbed = sum(m.result.cores is not None and m.result.cores.others > sweep.DISTURBED for m in measured)
    caution = ([f"caution: {disturbed} of {len(measured)} runs shared the cores with other processes (starred); "
                "re-run on a quiet machine before shipping this section"] if disturbed else [])
    lines = [f"machine:  {machine()}", f"archive:  {archive_summary(info)}  ({origin})", f"body:     {body.label}",
             f"load:     wrk closed loop, {args.connections} connections, {args.warmup:g} s warm-up + {args.seconds:g} s per setting",
             *([note] if note else []), "", sweep.table(measured, chosen), "",
             f"tail check of the settings within {100 * sweep.CANDIDATES:.0f}% of the best (open loop at {100 * sweep.OPEN_FRACTION:.0f}% "
             f"of each one's closed-loop rate, {args.open_seconds:g} s):", sweep.tail_table(checked, chosen), "",
             *caution,
             f"recommended for this machine (highest images/s among the settings whose open-loop p99 is at most {sweep.TAIL_GOAL:g}x "
             f"their unloaded p50, ties within 3% to the lowest open-loop p99; else the lowest open-loop p99): "
             f"{chosen.setting.label()}",
             sweep.serving_section(chosen.setting, info.settings["responseTimeout"])]
    return lines, checked


def _capacity(args: argparse.Namespace, built: Path) -> int:
    """``markit capacity`` and the full sweep on the same archive and body: both choices, both capacities, the ratio."""
    from benchmarks.capacity import render_agreement, within_target
    from markit.ops.fit.command import add_parser, fit
    from markit.ops.load.body import golden_body

    archive, origin = _archive(args, built)
    body = golden_body(archive) if args.body is None and args.archive is not None else _body(args)
    body_file = built / "body"
    body_file.write_bytes(body.data)
    parser = argparse.ArgumentParser(prog="markit")
    add_parser(parser.add_subparsers())
    fit_args = parser.parse_args(["capacity", str(archive), "--p99", f"{args.p99:g}", "--body", str(body_file), "--content-type",
                                  body.content_type, "--connections", str(args.connections), "--cores", str(args.cores)])
    fit_lines: list[str] = []
    fitted = fit(fit_args, say=lambda line: (fit_lines.append(line), _progress(line)))
    sweep_lines, checked = _swept(args, archive, origin, body)
    print("\n".join(["== markit capacity", *fit_lines, "", "== the full sweep (benchmark.sh sweep)", *sweep_lines, "",
                     render_agreement(fitted, within_target(checked, args.p99), args.p99)]))
    return 0


def _load(args: argparse.Namespace, built: Path) -> int:
    from benchmarks.compare import archive_summary
    from benchmarks.report import machine
    from benchmarks.sequential import sequential
    from benchmarks.servers import bench_server
    from markit.archive.mar_file import read_mar
    from markit.ops.load.openloop import WARMUP, open_loop
    from markit.ops.load.wrk import run_wrk

    archive, origin = _archive(args, built)
    info = read_mar(archive)
    body = _body(args)
    config = dict(_key_value(item, "--config") for item in args.config)
    lines = [f"machine:  {machine()}", f"archive:  {archive_summary(info)}  ({origin})", f"body:     {body.label}"]
    if config:
        lines.append("server:   config/config.properties with " + ", ".join(f"{key}={value!r}" for key, value in config.items()))
    say: Callable[[str], None] = _progress
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, \
            bench_server([archive], Path(tmp), load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]},
                         overrides=config) as server:
        url, token = server.url(info.name), server.token
        run_wrk(url, body.data, body.content_type, token, connections=args.connections, seconds=args.warmup)
        mark, counted = server.batch_mark(), server.counters(info.name)
        closed = server.watched(lambda: run_wrk(url, body.data, body.content_type, token, connections=args.connections,
                                                seconds=args.seconds))
        batches, frontend = server.batches_since(mark), server.counters(info.name) - counted
        say(f"closed loop: {closed.summary()}")
        unloaded = server.watched(lambda: sequential(url, body.data, body.content_type, token, count=args.unloaded_requests))
        say(f"unloaded: {unloaded.summary(with_rate=False)}")
        rate = args.rate or args.open_fraction * closed.throughput
        opened = server.watched(lambda: open_loop(url, body.data, body.content_type, token, rate=rate, seconds=args.seconds,
                                                  warmup=WARMUP)) if rate > 0 else None
    lines += [f"  {closed.generator}: {closed.summary()}", f"  {unloaded.generator}: {unloaded.summary(with_rate=False)}"]
    if opened is not None:
        lines.append(f"  {opened.generator}: {opened.summary()}")
    lines.append(f"  in TorchServe under the closed loop: {frontend.summary()}")
    if batches:
        lines.append("  batches formed under the closed loop: " + ", ".join(f"{n} of {size}" for size, n in sorted(batches.items())))
    print("\n".join(lines))
    return 0


def _fault(args: argparse.Namespace, built: Path) -> int:
    from benchmarks.compare import archive_summary
    from benchmarks.fault import run_fault, run_fault_kserve
    from benchmarks.report import machine
    from markit.archive.mar_file import read_mar

    archive, origin = _archive(args, built)
    body = _body(args)
    if args.engine == "kserve":
        results = run_fault_kserve(archive, body, processes=args.processes, clients=args.clients, seconds=args.seconds,
                                   kills=args.kills, progress=_progress)
        victims = f"KServe runtime process(es) of {args.processes}"
    else:
        results = run_fault(archive, body, clients=args.clients, seconds=args.seconds, kills=args.kills, progress=_progress)
        victims = "TorchServe worker(s)"
    lines = [f"machine:  {machine()}", f"archive:  {archive_summary(read_mar(archive))}  ({origin})", f"body:     {body.label}",
             f"fault:    {args.kills} {victims} SIGKILLed in {args.seconds:g} s under {args.clients} closed-loop clients",
             *(f"  {result.summary()}" for result in results)]
    print("\n".join(lines))
    return 0


def _reliability(args: argparse.Namespace, _built: Path) -> int:
    """Every part on both engines; exit 1 when anything missed (the last line counts the misses)."""
    from benchmarks.bodies import coffee_jpeg
    from benchmarks.fault import run_fault, run_fault_kserve
    from benchmarks.reliability import run_tamper

    targets = _one_per_task(args.store)
    lines = [f"machine:  {_machine()}", "archives: " + ", ".join(f"{t.model} ({t.task})" for t in targets)]
    misses = 0
    for engine in (_reliability_torchserve, _reliability_kserve):
        said, missed = engine(targets, args)
        lines += said
        misses += missed
    image = next(t.archive for t in targets if t.task == "image_classification")
    faults = run_fault(image, coffee_jpeg(), clients=4, seconds=args.fault_seconds, kills=args.kills, progress=_progress)
    lines += [f"workers SIGKILLed under load ({image.name}, {args.kills} kills in {args.fault_seconds:g} s, 4 clients):",
              *(f"  {result.summary()}" for result in faults)]
    children = run_fault_kserve(image, coffee_jpeg(), processes=2, clients=4, seconds=args.fault_seconds, kills=args.kills,
                                progress=_progress)
    lines += [f"KServe runtime processes SIGKILLed under load (--processes 2, {image.name}, {args.kills} kills in "
              f"{args.fault_seconds:g} s, 4 clients): the supervisor replaces each",
              *(f"  {result.summary()}" for result in children)]
    misses += sum(sum(result.failed.values()) for result in [*faults, *children] if "TorchServeClient" in result.label)
    _progress("tampered archives ...")
    with tempfile.TemporaryDirectory(prefix="bench-tamper-") as tmp:
        said, missed = run_tamper(image, Path(tmp))
    lines += said
    misses += missed
    lines.append(f"misses: {misses} (a probe not a clear 4xx, a harmed batch-mate, a restart, a failed good request, a slow "
                 "refusal, a failure through the client under kills, a tampered archive served or its refusal unnamed)")
    print("\n".join(lines))
    return 1 if misses else 0


def _machine() -> str:
    from benchmarks.report import machine

    return machine()


def _reliability_torchserve(targets: list[Target], args: argparse.Namespace) -> tuple[list[str], int]:
    """The matrix, the input cost, the huge requests and the soak against a private TorchServe."""
    from benchmarks.servers import bench_server
    from markit.archive.mar_file import read_mar
    from markit.client import TorchServeClient

    archives = [target.archive for target in targets]
    infos = [read_mar(path) for path in archives]
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp, \
            bench_server(archives, Path(tmp), load=[i.mar_name for i in infos],
                         ready={i.name: i.settings["maxWorkers"] for i in infos}) as server:
        process = server.process
        retrying = TorchServeClient(process.url("inference"), process.url("management"), process.client.key_file)
        return _engine_parts("TorchServe", process.client, retrying, process.log_text, targets, args)


def _reliability_kserve(targets: list[Target], args: argparse.Namespace) -> tuple[list[str], int]:
    """The same parts against the KServe runtime serving the same archives."""
    from benchmarks.reliability import rss_mb
    from benchmarks.servers import place
    from harness import KServeRuntimeProcess
    from markit.client import TorchServeClient

    with tempfile.TemporaryDirectory(prefix="bench-reliability-kserve-") as tmp:
        store = Path(tmp) / "model_store"
        store.mkdir()
        for target in targets:
            place(target.archive, store / target.archive.name)
        with KServeRuntimeProcess(store, Path(tmp) / "kserve") as runtime:
            runtime.wait_ready()
            retrying = TorchServeClient(runtime.url(), runtime.url(), runtime.key_file)
            memory = partial(rss_mb, runtime.process.pid)  # one process: no worker pids to follow
            return _engine_parts("the KServe runtime", runtime.client, retrying, lambda: runtime.log_tail(10**7), targets, args,
                                 memory)


def _engine_parts(engine: str, once: Any, retrying: Any, log_text: Callable[[], str], targets: list[Target],
                  args: argparse.Namespace, memory: Callable[[], float] | None = None) -> tuple[list[str], int]:
    """On one engine: the bad-input matrix (``once``: each request sent once, what the server itself answers),
    the text model's input cost, the huge requests, and the soak (``retrying``: through the client's retries;
    ``memory``: the serving process's resident MB, where there are no workers to follow)."""
    from benchmarks.reliability import measure_cost, measure_huge, run_matrix, run_soak

    _progress(f"{engine}: bad inputs ...")
    matrix = run_matrix(once, targets, log_text, progress=_progress)
    lines, misses = [f"== {engine}", *matrix.lines()], matrix.misses()
    text = next((t for t in targets if t.task == "text_embedding"), None)
    if text is not None:
        _progress(f"{engine}: input cost: long texts ...")
        lines += measure_cost(once, text.model, text.budgets["text_chars"])
    said, missed = measure_huge(once, targets[0])
    lines += said
    misses += missed
    _progress(f"{engine}: soak: {args.soak_seconds:g} s ...")
    before = memory() if memory else 0.0
    soak = run_soak(retrying, targets, args.soak_seconds)
    lines += soak.lines()
    if memory:
        lines.append(f"  the runtime process's resident memory: {before:.0f} MB at the soak's start, {memory():.0f} MB at its end")
    return lines, misses + soak.misses()


def _one_per_task(store: Path) -> list[Target]:
    """The first archive of each task in ``store`` (by name; ``*_eager`` copies skipped), as report targets."""
    from benchmarks.reliability import targets_in

    chosen: dict[str, Target] = {}
    for target in targets_in([path for path in sorted(Path(store).glob("*.mar")) if not path.stem.endswith("_eager")]):
        chosen.setdefault(target.task, target)
    if not chosen:
        raise ValueError(f"{store} holds no archive; ./scripts/reliability.sh builds the examples into it")
    return list(chosen.values())
