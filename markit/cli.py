"""``markit COMMAND``: the project's command line (``python -m markit``; ``.venv/bin/markit`` once installed).

    markit capacity ARCHIVE --p99 MS     # the serving settings to ship for this machine (markit.ops.fit)

Each command is a subparser whose ``run(args)`` returns the exit code; a ``MarkitError`` ends it with one line on
stderr and its exit code (``markit.errors``). Nothing heavy is imported here: a command imports what it needs when
it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .errors import MarkitError, report
from .ops.fit import command as capacity

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """Every command's options."""
    top = argparse.ArgumentParser(prog="markit", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    capacity.add_parser(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except MarkitError as err:
        return report(f"markit {args.command}", err)
