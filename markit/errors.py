"""The one root of the errors the tooling raises on purpose, and the exit codes its commands use.

Every command (``python -m markit.builder``, ``markit.offline.predict``, ``markit.client``,
``markit.client.health``, ``markit.client.catalog``, ``markit.ops.capacity``,
``markit.ops.torchserve_on_kserve``, ``markit capacity``, and the checkout's ``benchmarks``) ends on a
``MarkitError`` with one line on stderr and the error's ``exit_code``, never a traceback:

    0  success
    1  the command ran and the answer is no: a build or golden check failed, the server is
       unhealthy or answered with an error, no model matches
    2  the command could not do what was asked: bad arguments or spec, a missing or unreadable
       file, a broken archive, no connection

    MarkitError                      exit 1
    ├── UsageError                   exit 2  arguments, files, configuration
    ├── markit.builder.BuildError    exit 1  (SpecError: exit 2; VerificationError: exit 1)
    ├── markit.offline.ArchiveLoadError  exit 2
    ├── markit.archive.mar_file.MarFileError exit 2  (LayoutError)
    ├── markit.ops.ServerError       exit 1
    ├── markit.ops.fit: NoSettingMeets, NotConfirmed, TrialError, MeasureError   exit 1
    ├── markit.ops.load.wrk.WrkError exit 1
    ├── markit.client.TokenError     exit 2
    ├── markit.client.health.Unhealthy        exit 1
    ├── markit.client.catalog.NoModelError    exit 1
    └── markit.client.cli.NoManifest exit 1

The run-time code an archive carries (``markit.core`` and the tasks) has its own root, ``HandlerError``, which maps to HTTP
statuses: it travels inside archives and imports nothing from the rest of this package.
"""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "MarkitError", "UsageError", "report"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class MarkitError(Exception):
    """Root of every error the tooling raises on purpose; the message names the key, file or value and the fix."""

    exit_code: int = EXIT_FAILED


class UsageError(MarkitError):
    """The command cannot run as asked: a wrong argument, a missing config, key or input file."""

    exit_code = EXIT_USAGE


def report(prog: str, err: MarkitError, *, with_traceback: bool = False, stream: TextIO | None = None) -> int:
    """Print ``prog: message`` (and the traceback only when asked) and return the error's exit code."""
    stream = stream or sys.stderr
    if with_traceback:
        traceback.print_exception(err, file=stream)
    print(f"{prog}: {err}", file=stream)
    return err.exit_code
