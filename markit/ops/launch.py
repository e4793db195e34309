"""Run TorchServe's Java frontend *as this process*, so that its exit status is the caller's.

``torchserve --foreground`` starts Java as a child, waits for it and then returns normally: the
CLI exits 0 however Java ended (killed, out of memory, a port already taken), and a SIGTERM sent
to the CLI ends the CLI but leaves Java running. A container whose main process is that CLI
either hides a crash or cannot be stopped cleanly. This module runs TorchServe's own start-up
code (``ts.model_server.start``: the same argument parsing, config checks, class path, JVM
arguments and pid file) but, where that code would start Java as a child, replaces this process
with Java (``os.execvp``). Java then receives the signals sent to the container's main process
and its exit status is the container's::

    python -m markit.ops.launch --ncs --model-store /home/model-server/model-store \\
        --ts-config /home/model-server/config/config.properties

takes ``torchserve``'s options (``--start`` and ``--foreground`` are implied). Java, hence the
workers it starts, gets :data:`WORKER_ENVIRONMENT` for every variable the caller has not set.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import NoReturn

__all__ = ["WORKER_ENVIRONMENT", "main", "with_worker_defaults"]

PID_FILE = ".model_server.pid"
# What TorchServe's workers start with unless the deployer set it (docs/serving.md): torch puts
# tensors of 2 MB and more on transparent huge pages. Measured (python -m benchmarks.hugepages),
# the compiled EfficientNet-Lite0 ran up to a fifth slower in some fresh processes than in others
# without it, and evenly fast with it.
WORKER_ENVIRONMENT = {"THP_MEM_ALLOC_ENABLE": "1"}


def with_worker_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` plus :data:`WORKER_ENVIRONMENT` for the variables it does not set."""
    return {**WORKER_ENVIRONMENT, **environ}


def _exec_instead(command: Sequence[str], *_: object, **__: object) -> NoReturn:
    """Stands in for ``subprocess.Popen`` inside ``ts.model_server``: this process becomes ``command``.

    The pid file TorchServe writes after starting Java is written first (the pid does not change
    across ``exec``), so ``torchserve --stop`` still finds the server. An ``OSError`` (no java)
    reaches TorchServe's own handler, which prints "java not found".
    """
    Path(tempfile.gettempdir(), PID_FILE).write_text(str(os.getpid()), encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], list(command), with_worker_defaults(os.environ))


def main(argv: Sequence[str] | None = None) -> int:
    from ts import model_server  # TorchServe's CLI module; imported only when launching

    args = list(sys.argv[1:] if argv is None else argv)
    extra = [flag for flag in ("--start", "--foreground") if flag not in args]
    saved = sys.argv, model_server.subprocess
    sys.argv, model_server.subprocess = ["torchserve", *extra, *args], SimpleNamespace(Popen=_exec_instead)
    try:
        model_server.start()
    finally:
        sys.argv, model_server.subprocess = saved
    # start() returned instead of becoming Java: it printed why (bad option, missing file, no java)
    return 1


if __name__ == "__main__":
    sys.exit(main())
