"""Why served archives run with ``THP_MEM_ALLOC_ENABLE=1``: the archive's own handler in fresh
processes, with and without it, taking turns. Prints each process's images/s.

    python -m benchmarks.hugepages ARCHIVE.mar [--processes 6] [--seconds 6] [--batch 4]

Each measurement is a new interpreter (nothing shared with the one before it) running the in-process
ceiling (:func:`benchmarks.inprocess.ceiling`: the archive's handler at one torch thread
answering batches of the coffee photo for ``--seconds`` after a warm-up); the variable is absent in
one half and ``1`` in the other. What differs between processes of one setting is what a server's
workers draw at start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

__all__ = ["main"]

VARIABLE = "THP_MEM_ALLOC_ENABLE"


def _measure(archive: Path, batch: int, seconds: float) -> float:
    """images/s of the in-process ceiling at 1 process x 1 thread (its process inherits this one's environment)."""
    from benchmarks.bodies import coffee_jpeg
    from benchmarks.inprocess import ceiling

    body = coffee_jpeg()
    return ceiling(archive, body.data, body.content_type, processes=1, threads=1, batch_size=batch, seconds=seconds,
                   warmup=2.0).rate


def _fresh_process(archive: Path, batch: int, seconds: float, hugepages: bool) -> float:
    environment = {key: value for key, value in os.environ.items() if key != VARIABLE}
    if hugepages:
        environment[VARIABLE] = "1"
    command = [sys.executable, "-m", "benchmarks.hugepages", str(archive), "--child", "--batch", str(batch),
               "--seconds", str(seconds)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"a measuring process failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path)
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per setting (default 6)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(f"{_measure(args.archive, args.batch, args.seconds):.2f}")
        return 0
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.processes):
        for hugepages in (False, True):
            rates[hugepages].append(_fresh_process(args.archive, args.batch, args.seconds, hugepages))
    print(f"{args.archive.name}: the handler in process, 1 torch thread, batches of {args.batch}, "
          f"{args.processes} fresh processes per setting (taking turns), images/s per process")
    for hugepages, label in ((False, f"{VARIABLE} unset"), (True, f"{VARIABLE}=1")):
        found = rates[hugepages]
        print(f"  {label:<24} min {min(found):5.1f}  median {statistics.median(found):5.1f}  max {max(found):5.1f}   "
              + " ".join(f"{rate:.1f}" for rate in found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
