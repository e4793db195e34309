"""``markit capacity ARCHIVE --p99 MS``: the serving settings to ship for this machine, in a minute or two.

1. measures the archive's handler in process at a few batch sizes and thread counts, and fits its cost per batch
   (``measure``, ``costs``);
2. predicts the capacity of every workers x threads x batch size x delay that fits the cores, simulates the
   p99 of the best ones at ``--load`` of their capacity, and picks the highest capacity within ``--p99``
   (``model``, ``simulate``);
3. serves the archive with that setting (``--engine``, token authorization on) for one closed loop and one open
   loop, and prints what they measured beside the prediction (``trial``, ``confirm``); when the trial's p99 misses
   the target, scales every predicted latency by how far it was off, chooses again and tries that once more;
4. prints the ``serving:`` section to ship.

Exit 0; 1 when no setting is predicted to meet ``--p99`` or the trial measured a p99 over it; 2 for a wrong
argument or a missing or broken archive.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...archive.mar_file import read_mar
from ...errors import MarkitError, UsageError
from ..load.body import Body, file_body, golden_body
from ..load.cpu import CpuWatch
from ..load.wrk import WrkError, wrk_executable
from .confirm import Confirmation, confirm
from .costs import Costs
from .measure import Plan, honours_thread_override, measure
from .model import ENGINES, Engine, NoSettingMeets, Prediction, candidates, choose, predict_capacity, predict_tail
from .report import candidates_table, comparison, costs_lines
from .setting import serving_section
from .trial import serve

__all__ = ["Fitted", "NotConfirmed", "add_parser", "fit", "run"]

DEFAULT_CONFIG = Path("config") / "config.properties"
BUDGET = 180.0  # s: a second trial runs only if the whole command still ends within this


class NotConfirmed(MarkitError):
    """The trial measured a p99 over the target (exit 1)."""


def _positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from err
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of at least 1, got {text!r}")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _positive(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction of capacity between 0 and 1, got {text!r}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The ``capacity`` subcommand's options, on ``commands``; ``run`` answers it."""
    parser = commands.add_parser("capacity", help="the serving settings to ship, measured and modelled in a minute or two",
                                 description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="a .mar built by build_mar.sh")
    parser.add_argument("--p99", type=_positive, required=True, metavar="MS", help="the p99 latency to stay within, in ms")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="torchserve", help="the engine to confirm on (default torchserve)")
    parser.add_argument("--body", type=Path, help="the request body (default: the archive's first golden example's input)")
    parser.add_argument("--content-type", help="the body's content type (default: from its file name)")
    parser.add_argument("--load", type=_fraction, default=0.7, help="the fraction of capacity the p99 is predicted and "
                        "measured at (default 0.7, as the sweep's tail check)")
    parser.add_argument("--connections", type=int, default=8, help="the closed loop's requests in flight (default 8, as the sweep)")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="the cores to fill (default: this machine's)")
    parser.add_argument("--batch-sizes", type=_positive_ints, help="batch sizes timed in process "
                        "(default: 1, 2, 4, ... up to --connections)")
    parser.add_argument("--threads", type=_positive_ints, default=(1, 2), help="torch threads per worker to consider (default 1,2; "
                        "only those up to --cores, and only the archive's own when its code does not read ARCHIVE_TORCH_THREADS)")
    parser.add_argument("--delays", type=_positive_ints, default=(1, 5, 20), help="batch delays in ms to consider (default 1,5,20)")
    parser.add_argument("--overhead-ms", type=float, help="the engine's CPU per request beyond the handler's, in ms "
                        "(default: measured on this project's machine; the trial reports this machine's)")
    parser.add_argument("--seconds", type=_positive, default=10.0, help="the trial's closed loop and open loop, each (default 10)")
    parser.add_argument("--warmup", type=_positive, default=3.0, help="the trial's warm-up closed loop (default 3)")
    parser.add_argument("--no-confirm", action="store_true", help="predict only: no trial server")
    parser.add_argument("--ts-config", type=Path, help=f"TorchServe's config.properties for the trial (default {DEFAULT_CONFIG})")
    parser.set_defaults(run=run)
    return parser


@dataclass(frozen=True)
class _Context:
    args: argparse.Namespace
    archive: Path
    body: Body
    engine: Engine
    config: Path | None  # TorchServe's config.properties for the trial
    say: Callable[[str], None]


@dataclass(frozen=True)
class Fitted:
    """What the command chose, the trial's figures (None with ``--no-confirm``) and how long it all took."""

    chosen: Prediction
    measured: Confirmation | None
    seconds: float


def run(args: argparse.Namespace, say: Callable[[str], None] = print) -> int:
    """Measure, predict, try, print; the exit code (``NotConfirmed`` when the trial's p99 missed ``--p99``)."""
    fitted = fit(args, say)
    if fitted.measured is not None and fitted.measured.opened.p99_ms > args.p99:
        raise NotConfirmed(f"the trial measured a p99 of {fitted.measured.opened.p99_ms:.1f} ms, over --p99 {args.p99:g}: rerun "
                           "on a quieter machine, or relax --p99")
    return 0


def fit(args: argparse.Namespace, say: Callable[[str], None] = print) -> Fitted:
    """Measure, predict, try and print (the ``capacity`` subcommand's options in ``args``)."""
    started = time.monotonic()
    context = _inputs(args, say)
    info = read_mar(context.archive)
    plan = _plan(args, context.archive, info.torch_threads, say)
    trial = "no trial (--no-confirm)" if args.no_confirm else f"a trial on {context.engine.name}"
    say(f"markit capacity: {context.archive.name} ({info.name} {info.version}), p99 within {args.p99:g} ms at "
        f"{100 * args.load:.0f} % of capacity, {args.cores} core(s), {args.connections} connections, {trial}")
    say(f"body: {context.body.label}")
    say("in process (the archive's handler, whole batches: decode, forward, postprocess):")
    with CpuWatch(None) as watch:  # the measuring processes count as this one's children once joined
        costs = measure(context.archive, context.body, plan, say)
    for line in costs_lines(costs, watch.share.others):
        say(line)
    chosen = _predict(context, costs)
    measured = None
    if not args.no_confirm:
        chosen, measured = _confirmed(context, costs, chosen, started)
    say(f"recommended: {chosen.setting.label()}")
    say(serving_section(chosen.setting, info.settings["responseTimeout"]).rstrip())
    elapsed = time.monotonic() - started
    say(f"elapsed: {elapsed:.0f} s")
    return Fitted(chosen, measured, elapsed)


def _confirmed(context: _Context, costs: Costs, chosen: Prediction, started: float) -> tuple[Prediction, Confirmation]:
    """The trial of ``chosen``; when its p99 missed the target and a second trial fits in ``BUDGET``, every prediction
    is scaled by how far the trial's p99 was from it, the choice made again and tried (once)."""
    began = time.monotonic()
    measured = _trial(context, costs, chosen)
    target, took = context.args.p99, time.monotonic() - began
    if measured.opened.p99_ms <= target or not chosen.p99 > 0 or time.monotonic() - started + took > BUDGET:
        return chosen, measured
    factor = measured.opened.p99_ms / (1000 * chosen.p99)
    context.say(f"the trial's p99 was {factor:.2f}x the predicted: every predicted latency scaled by {factor:.2f}, the choice "
                "made again")
    try:
        again = _predict(context, costs, factor)
    except NoSettingMeets as err:
        context.say(f"  {err}")
        return chosen, measured
    if again.setting == chosen.setting:
        return chosen, measured
    return again, _trial(context, costs, again)


def _inputs(args: argparse.Namespace, say: Callable[[str], None]) -> _Context:
    """The archive, the body, the engine (with --overhead-ms) and TorchServe's config, checked."""
    archive: Path = args.archive
    if not archive.is_file():
        raise UsageError(f"{archive}: no such archive; give a .mar built by build_mar.sh")
    if args.connections < 1 or args.cores < 1:
        raise UsageError(f"--connections and --cores must be at least 1, got {args.connections} and {args.cores}")
    if args.body is not None and not args.body.is_file():
        raise UsageError(f"--body {args.body}: no such file")
    if args.content_type is not None and args.body is None:
        raise UsageError("--content-type needs --body FILE (the archive's golden input has the type its name implies)")
    body = file_body(args.body, args.content_type) if args.body is not None else golden_body(archive)
    engine = ENGINES[args.engine]
    if args.overhead_ms is not None:
        if args.overhead_ms < 0:
            raise UsageError(f"--overhead-ms must be at least 0, got {args.overhead_ms:g}")
        engine = dataclasses.replace(engine, request_cpu=args.overhead_ms / 1000, batch_cpu=0.0)
    config = None
    if not args.no_confirm:
        try:
            wrk_executable()
        except WrkError as err:
            raise UsageError(f"{err}; or predict only, with --no-confirm") from err
        if args.engine == "torchserve":
            config = args.ts_config or DEFAULT_CONFIG
            if not config.is_file():
                raise UsageError(f"--ts-config {config}: no such file; give TorchServe's config.properties (this project's "
                                 "is config/config.properties), or confirm on --engine kserve, or predict only with --no-confirm")
    return _Context(args, archive, body, engine, config, say)


def _plan(args: argparse.Namespace, archive: Path, own_threads: int, say: Callable[[str], None]) -> Plan:
    """What to time: the batch sizes, the thread counts, and the workers side by side as the engine runs them."""
    sizes = args.batch_sizes or tuple(2 ** power for power in range(8) if 2 ** power <= args.connections)
    threads = tuple(t for t in args.threads if t <= args.cores) or (1,)
    if not honours_thread_override(archive) and threads != (own_threads,):
        say(f"note: this archive's run-time code does not read ARCHIVE_TORCH_THREADS: only its own torch_threads "
            f"({own_threads}) is considered")
        threads = (own_threads,)
    mode = "threads" if args.engine == "kserve" else "processes"  # the KServe runtime's workers share one process
    return Plan(batch_sizes=sizes, threads=threads, side_by_side=max(1, args.cores // threads[0]), side_by_side_mode=mode)


def _predict(context: _Context, costs: Costs, scale: float = 1.0) -> Prediction:
    """The choice, and the table of the candidates simulated on the way; predicted latencies times ``scale``."""
    args, engine = context.args, context.engine
    settings = candidates(costs, cores=args.cores, connections=args.connections, delays=args.delays)
    predictions = [predict_capacity(setting, costs, engine, args.cores) for setting in settings]

    def tail(prediction: Prediction) -> Prediction:
        simulated = predict_tail(prediction, costs, engine, args.cores, args.load)
        if scale == 1.0 or simulated.tail is None:
            return simulated
        return dataclasses.replace(simulated, tail=dataclasses.replace(simulated.tail, p50=scale * simulated.tail.p50,
                                                                        p99=scale * simulated.tail.p99))

    chosen, considered = choose(predictions, args.p99 / 1000, tail)
    if scale == 1.0:
        context.say(f"prediction: {len(settings)} candidate settings; {engine.name} adding {1000 * engine.request_cpu:.2f} ms of "
                    f"CPU and {1000 * engine.latency:.1f} ms of latency per request, {1000 * engine.batch_cpu:.1f} ms of CPU and "
                    f"{1000 * engine.handoff:.1f} ms of a worker's time per batch; "
                    "simulated by capacity, until the choice was settled:")
    context.say(candidates_table(considered, chosen, args.p99 / 1000, args.load))
    return chosen


def _trial(context: _Context, costs: Costs, chosen: Prediction) -> Confirmation:
    """``chosen`` served for a trial, and what it measured beside what was predicted."""
    args, setting = context.args, chosen.setting
    context.say(f"trial on {context.engine.name}, {setting.label()}: a {args.warmup:g} s warm-up, then a {args.seconds:g} s "
                f"closed loop and a {args.seconds:g} s open loop at {100 * args.load:.0f} % of its rate (after 2 s not counted) ...")
    with tempfile.TemporaryDirectory(prefix="markit-capacity-") as scratch, \
            serve(context.engine.name, context.archive, setting, Path(scratch), ts_config=context.config) as served:
        measured = confirm(served, context.body, connections=args.connections, seconds=args.seconds, warmup=args.warmup,
                           load=args.load, progress=context.say)
    line = costs.line(setting.threads)
    handler_cpu = setting.threads * line.at(setting.batch_size) * costs.cpu_crowding(setting.workers) / setting.batch_size
    for text in comparison(chosen, measured, context.engine, handler_cpu):
        context.say(text)
    return measured
