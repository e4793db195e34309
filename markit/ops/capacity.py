"""How many CPU threads a model store's workers use, against the CPUs the server has.

Every worker of every archive is a process running ``serving.torch_threads`` threads (this
project's default is 1); TorchServe's own default (a worker per core, each using every core)
oversubscribes small machines several-fold (docs/serving.md has the measurements)::

    python -m markit.ops.capacity MODEL_STORE [--cpus N]

prints one line per archive and a total; exit 0, or 1 with ``--strict`` when the total exceeds
the CPUs. ``scripts/serve.sh start`` prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..archive.mar_file import read_mar
from ..errors import MarkitError
from ..errors import report as fail

__all__ = ["ArchiveLoad", "main", "report", "store_load"]


@dataclass(frozen=True)
class ArchiveLoad:
    name: str
    workers: int  # maxWorkers from the archive's model-config.yaml
    torch_threads: int  # serving.torch_threads from the archive's manifest.json (1 if absent)

    @property
    def threads(self) -> int:
        return self.workers * self.torch_threads


def store_load(model_store: Path) -> list[ArchiveLoad]:
    loads = []
    for path in sorted(Path(model_store).glob("*.mar")):
        archive = read_mar(path)
        loads.append(ArchiveLoad(archive.name, archive.settings["maxWorkers"], archive.torch_threads))
    return loads


def report(loads: Sequence[ArchiveLoad], cpus: int) -> tuple[str, bool]:
    """The lines to print and whether the workers' threads fit in ``cpus``."""
    lines = [f"  {load.name}: {load.workers} worker(s) x {load.torch_threads} torch thread(s)" for load in loads]
    total = sum(load.threads for load in loads)
    fits = total <= cpus
    verdict = "fits" if fits else ("more than the CPUs: fine while one model at a time is busy, but under load on several "
                                   "at once the workers compete (docs/deployment.md, 'How it scales')")
    lines.append(f"capacity: {total} worker thread(s) over {len(loads)} archive(s) on {cpus} CPU(s): {verdict}")
    return "\n".join(lines), fits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.ops.capacity", description=__doc__.split("\n\n")[0])
    parser.add_argument("model_store", type=Path)
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)), help="CPUs to fit in (default: this machine's)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the workers' threads exceed the CPUs")
    args = parser.parse_args(argv)
    try:
        text, fits = report(store_load(args.model_store), args.cpus)
    except MarkitError as err:
        return fail("capacity", err)
    print(text)
    return 1 if args.strict and not fits else 0


if __name__ == "__main__":
    sys.exit(main())
