"""Which models' workers cannot start, read from TorchServe's ``model_log.log``.

A worker that fails in ``initialize`` (a tampered archive, a missing dependency, a model that does not
load) logs ``Backend worker process died.`` and its traceback, and TorchServe starts it again with a
growing delay, for ever, while ``/ping`` keeps saying Healthy. Two deaths of a model's workers, each
with an exception, mean it will not come up by itself: ``serve.sh start`` then stops with the model,
the exception and the log line, instead of waiting out its timeout.

    python -m markit.ops.startup LOG_DIR [--deaths 2] [--after BYTES]    # exit 1 and one line per such model

``--after`` skips what the log already held before this server started (it appends across runs).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Failure", "main", "worker_failures"]

LOG_FILE = "model_log.log"
LINE = re.compile(r"^\S+ \[\w+\s*\] W-\d+-(?P<worker>.+?)-std(?:out|err) MODEL_LOG - (?P<text>.*)$")
DIED = "Backend worker process died."
EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w]*\.)*(?P<kind>[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Warning)): (?P<message>.*)$")


@dataclass(frozen=True)
class Failure:
    model: str
    version: str
    deaths: int
    exception: str  # the last death's exception: "ArchiveError: archive file ... was modified after build ..."
    line: int  # its line in model_log.log

    def describe(self, log: Path) -> str:
        return (f"model {self.model} {self.version}: its workers cannot start ({self.deaths} tries): "
                f"{self.exception} ({log}, line {self.line} of what this server wrote)")


def worker_failures(lines: Iterable[str], deaths: int = 2) -> list[Failure]:
    """The models whose workers died at least ``deaths`` times, each time with an exception."""
    found: dict[str, tuple[int, str, int]] = {}  # worker -> (deaths, exception, line)
    dying: set[str] = set()
    for number, raw in enumerate(lines, 1):
        match = LINE.match(raw.rstrip("\n"))
        if not match:
            continue
        worker, text = match["worker"], match["text"]
        if text == DIED:
            dying.add(worker)
            continue
        exception = EXCEPTION.match(text)
        if worker in dying and exception:
            dying.discard(worker)
            count = found.get(worker, (0, "", 0))[0] + 1
            found[worker] = (count, f"{exception['kind']}: {exception['message']}", number)
    failures = []
    for worker, (count, exception, line) in sorted(found.items()):
        if count >= deaths:
            model, _, version = worker.rpartition("_")
            failures.append(Failure(model or worker, version, count, exception, line))
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.ops.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("log_dir", type=Path, help=f"TorchServe's log directory (holds {LOG_FILE})")
    parser.add_argument("--deaths", type=int, default=2, help="worker deaths with an exception that mean 'cannot start' (default 2)")
    parser.add_argument("--after", type=int, default=0, help="read the log from this byte on (its size when the server started)")
    args = parser.parse_args(argv)
    log = args.log_dir / LOG_FILE
    try:
        with log.open("rb") as raw:
            raw.seek(args.after)
            text = raw.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return 0  # no worker has logged yet
    failures = worker_failures(text.splitlines(), args.deaths)
    for failure in failures:
        print(failure.describe(log), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
