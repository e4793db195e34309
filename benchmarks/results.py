"""Results files: what a benchmark command printed, kept in ``docs/results/NAME.md`` with the command,
the date, the commit and the machine, so that the docs link to measured figures instead of copying them.

Every report command tees its stdout (the report; progress goes to stderr) into its file, which a new run
replaces. ``--results FILE`` writes elsewhere, ``--no-results`` only prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

__all__ = ["RESULTS", "add_options", "commit", "destination", "recorded", "render", "run_module", "write"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "results"


def add_options(parser: argparse.ArgumentParser, name: str, note: str = "") -> None:
    """``--results FILE`` (default ``docs/results/NAME.md``) and ``--no-results``."""
    parser.add_argument("--results", type=Path, metavar="FILE",
                        help=f"write the report there as markdown, with the command, date and machine "
                             f"(default docs/results/{name}.md{note})")
    parser.add_argument("--no-results", action="store_true", help="only print the report")


def destination(args: argparse.Namespace, name: str) -> Path | None:
    """Where the report goes: ``--results``, else ``docs/results/NAME.md``; None with ``--no-results``."""
    if args.no_results:
        return None
    return args.results if args.results is not None else RESULTS / f"{name}.md"


def commit() -> str:
    """The checkout's short commit, marked when tracked files differ from it; "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} with uncommitted changes" if changed else head


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(name: str, command: str, report: str, *, status: int, machine: str, when: datetime, revision: str) -> str:
    """The results file: a heading, one table row (command, date, commit, machine, exit status), the report verbatim."""
    fence = "````" if "```" in report else "```"
    return "\n".join([
        f"# Results: {name}",
        "",
        "Written by the command below; run it again to replace this file. The docs link here instead of copying figures.",
        "",
        "| command | date | commit | machine | exit status |",
        "| --- | --- | --- | --- | --- |",
        f"| `{_cell(command)}` | {when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC | {_cell(revision)} | {_cell(machine)} | {status} |",
        "",
        f"{fence}text",
        report.rstrip("\n"),
        fence,
        "",
    ])


def write(path: Path, name: str, command: str, report: str, *, status: int, machine: str | None = None,
          when: datetime | None = None, revision: str | None = None) -> Path:
    if machine is None:
        from benchmarks.report import machine as this_machine

        machine = this_machine()
    text = render(name, command, report, status=status, machine=machine, when=when or datetime.now(timezone.utc),
                  revision=revision if revision is not None else commit())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def recorded(path: Path | None, name: str, command: str, run: Callable[[], int], *, machine: str | None = None,
             when: datetime | None = None, revision: str | None = None) -> int:
    """Run a report command, its stdout also kept; then write ``path`` unless it printed nothing or raised.

    A report that ends in a non-zero status (the reliability report's misses) is written too, with that status.
    The commit is read before the run: the code that ran, not the files it wrote (compare's chart) since."""
    if path is None:
        return run()
    revision = revision if revision is not None else commit()
    kept = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, kept)):
        status = run()
    if kept.getvalue().strip():
        write(path, name, command, kept.getvalue(), status=status, machine=machine, when=when, revision=revision)
        print(f"results: {path}", file=sys.stderr)
    return status


def run_module(name: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
               argv: Sequence[str] | None = None, *, keep: Callable[[argparse.Namespace], bool] = lambda _: True) -> int:
    """``python -m benchmarks.NAME``: parse (with the results options), run, and keep the report unless ``keep`` says no."""
    add_options(parser, name)
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    path = destination(args, name) if keep(args) else None
    return recorded(path, name, " ".join(["python -m", f"benchmarks.{name}", shlex.join(words)]).rstrip(), lambda: run(args))
