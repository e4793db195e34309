"""What replaying an archive's golden examples costs a TorchServe worker at load, per archive.

    python -m benchmarks.golden_cost STORE_DIR_OR_MAR... [--processes 3]

A TorchServe worker replays the archive's golden examples before it reports ready (``check_golden`` in
``markit/core/service.py``, called by the entry's ``initialize``). Each archive is checked and unpacked once, as
``serve.sh`` hands TorchServe a directory; then each measurement is a fresh process, since the first load in a
process is what a worker pays, taking the entry's steps in its order and timing

- **load**: everything ``initialize`` does but the replay: every file checked and the archive's own runtime
  imported (``load_runtime``), the batch core made (``create_handler``: threads, the model), the adapter made,
  the heap frozen;
- **replay**: ``check_golden`` on that core, the same call the entry makes: the model's first run is in it,
  which the first request would pay without it;
- **warm replay**: ``check_golden`` once more, after the load: the same examples through a model already run.

The process gets a worker's environment (``WORKER_ENVIRONMENT``; no thread variable of the caller's), so the
archive's own ``serving.torch_threads`` applies. A pipeline's load includes its steps' own golden replays (each
step is loaded, and checked, inside it). An archive that cannot be opened or loaded gets a line saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import results

__all__ = ["Cost", "Timing", "archives_in", "main", "measure", "render", "worker_environment"]

REPO = Path(__file__).resolve().parents[1]  # the measuring process imports nothing it does not time (no benchmarks.servers)


@dataclass(frozen=True)
class Timing:
    """One fresh process: the load without the replay, the replay, and the replay again once loaded (ms)."""

    load_ms: float
    replay_ms: float
    warm_ms: float


@dataclass(frozen=True)
class Cost:
    """One archive: its task and golden examples, each process's timing, or why it was not measured."""

    archive: str
    task: str = ""
    examples: int = 0
    timings: list[Timing] = field(default_factory=list)
    error: str = ""

    def median(self, name: str) -> float:
        return statistics.median(getattr(timing, name) for timing in self.timings)

    @property
    def share(self) -> float:
        """The replay's share of the whole initialize (load + replay), from the medians."""
        load, replay = self.median("load_ms"), self.median("replay_ms")
        return replay / (load + replay) if load + replay > 0 else float("nan")


def archives_in(paths: Sequence[Path]) -> list[Path]:
    """Every ``.mar`` named or held (sorted) by a directory of ``paths``; ValueError naming a path that is neither."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.mar"))
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{path}: no such archive or store directory")
    if not found:
        raise ValueError(f"no .mar in {', '.join(map(str, paths))}; ./scripts/build_examples.sh DIR builds a store")
    return found


def measure(mar: Path, root: Path, processes: int) -> Cost:
    """``mar`` checked and unpacked under ``root``, then loaded in ``processes`` fresh processes, one after another."""
    from markit.errors import MarkitError

    directory = root / mar.stem
    try:
        from markit.archive.unpack import unpack_verified

        unpack_verified(mar, directory)
        spec = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))["spec"]
    except (MarkitError, OSError, ValueError, KeyError) as err:
        return Cost(mar.name, error=f"not opened: {err}")
    task = spec.get("task")
    cost = Cost(mar.name, task if isinstance(task, str) else json.dumps(task), len(spec.get("golden") or []))
    try:
        timings = [_fresh_process(directory) for _ in range(processes)]
    except RuntimeError as err:
        return Cost(cost.archive, cost.task, cost.examples, error=str(err))
    return Cost(cost.archive, cost.task, cost.examples, timings)


def worker_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default this process's) without thread variables, with a worker's defaults where unset."""
    from benchmarks.servers import THREAD_VARIABLES
    from markit.ops.launch import WORKER_ENVIRONMENT

    environment = {key: value for key, value in (os.environ if environ is None else environ).items()
                   if key not in THREAD_VARIABLES}
    return {**WORKER_ENVIRONMENT, **environment}


def _fresh_process(directory: Path) -> Timing:
    command = [sys.executable, "-m", "benchmarks.golden_cost", "--child", str(directory), "--no-results"]
    done = subprocess.run(command, env=worker_environment(), cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"not loaded (exit {done.returncode}): {lines[-1] if lines else 'no message'}")
    return Timing(**json.loads(done.stdout.strip().splitlines()[-1]))


def _load_and_replay(directory: Path) -> Timing:
    """The entry's ``initialize`` (``markit/engines/torchserve/entry.py``) in its order, timed around its replay."""
    import importlib

    from markit.engines.torchserve.entry import load_runtime

    started = time.perf_counter()
    runtime = load_runtime(directory).__name__
    adapter = importlib.import_module(f"{runtime}.engines.torchserve.adapter")
    service = importlib.import_module(f"{runtime}.core.service")
    core = service.create_handler(directory)
    loaded = time.perf_counter()
    service.check_golden(core)
    replayed = time.perf_counter()
    adapter.TorchServeAdapter(core)
    service.freeze_loaded_heap()
    ready = time.perf_counter()
    service.check_golden(core)
    again = time.perf_counter()
    return Timing(load_ms=1000 * (loaded - started + ready - replayed), replay_ms=1000 * (replayed - loaded),
                  warm_ms=1000 * (again - ready))


def render(costs: Sequence[Cost], processes: int, machine: str) -> str:
    """The table: one line per archive (medians over its processes), or why it has none."""
    lines = [f"machine:  {machine}",
             f"each archive checked and unpacked once, then loaded as a TorchServe worker's initialize loads it in {processes} "
             "fresh processes, one after another; figures: medians",
             "",
             f"  {'archive':<26} {'task':<22} {'golden':>6} {'load ms':>9} {'replay ms':>10} {'warm replay ms':>15} "
             f"{'replay share':>13}"]
    for cost in costs:
        if cost.error:
            lines.append(f"  {cost.archive:<26} skipped: {cost.error}")
            continue
        lines.append(f"  {cost.archive:<26} {cost.task:<22} {cost.examples:>6} {cost.median('load_ms'):>9.0f} "
                     f"{cost.median('replay_ms'):>10.0f} {cost.median('warm_ms'):>15.0f} {100 * cost.share:>12.1f}%")
    lines += ["", "load: every file checked, the archive's runtime imported, the model loaded, the heap frozen; replay: its "
              "golden examples as one batch, the model's first run included (warm replay: the same once loaded). "
              "A pipeline's load holds its steps' own replays."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.golden_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, metavar="STORE_DIR_OR_MAR", help="archives, or directories of them")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per archive (default 3)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    return results.run_module("golden_cost", parser, _run, argv, keep=lambda args: args.child is None)


def _run(args: argparse.Namespace) -> int:
    if args.child is not None:
        timing = _load_and_replay(args.child)
        print(json.dumps({"load_ms": timing.load_ms, "replay_ms": timing.replay_ms, "warm_ms": timing.warm_ms}))
        return 0
    if not args.paths:
        raise SystemExit("python -m benchmarks.golden_cost: give a store directory or .mar files, e.g. model_store")
    if args.processes < 1:
        raise SystemExit(f"--processes {args.processes}: give at least 1")
    from benchmarks.report import machine

    try:
        mars = archives_in(args.paths)
    except ValueError as err:
        print(f"golden_cost: {err}", file=sys.stderr)
        return 2
    costs = []
    with tempfile.TemporaryDirectory(prefix="golden-cost-") as tmp:
        for mar in mars:
            print(f"{mar.name}: {args.processes} fresh processes ...", file=sys.stderr, flush=True)
            costs.append(measure(mar, Path(tmp), args.processes))
    print(render(costs, args.processes, machine()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
