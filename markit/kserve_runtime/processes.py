"""Several processes serving one store (``--processes N``): what TorchServe's worker processes give, without the GIL.

Each child is the runtime itself (``python -m markit.kserve_runtime ... --http-socket FD``): it loads every
archive, replays its golden examples, and only then accepts on the REST socket the parent opened for all of
them (whichever child is free accepts the next connection, so a busy one takes fewer; SO_REUSEPORT, tried
first, hashes connections to processes and measured a 1.26x p99 from uneven shares) and binds the gRPC
port with SO_REUSEPORT. Each archive's ``workers`` are shared among the processes.

The parent writes the token file before the children start (so all read the same token), points them at one
Prometheus multiprocess directory (so ``/metrics`` in any child counts every process), forwards SIGTERM and
SIGINT, and stops the rest when one ends: its exit status is the first child's that failed, else 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .auth import load_or_create_token

__all__ = ["METRICS_DIR_ENV", "supervise"]

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to its multiprocess mode


def supervise(child_args: Sequence[str], processes: int, host: str, http_port: int, key_file: Path | None) -> int:
    """Run ``processes`` children with ``child_args`` until a signal or a child's end; the exit status."""
    if key_file is not None:
        load_or_create_token(key_file)
    listener = _listening_socket(host, http_port)
    metrics_dir = tempfile.mkdtemp(prefix="markit-kserve-metrics-")
    environment = {**os.environ, METRICS_DIR_ENV: metrics_dir}
    command = [sys.executable, "-m", "markit.kserve_runtime", *child_args, "--http-socket", str(listener.fileno()),
               "--processes", str(processes)]
    children = [subprocess.Popen(command, env=environment, pass_fds=[listener.fileno()]) for _ in range(processes)]
    listener.close()  # the children hold it now
    stopping: list[int] = []

    def forward(sig: int, _frame: object) -> None:
        stopping.append(sig)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        if not stopping:  # one ended by itself (a refused archive, a crash): stop the others
            forward(signal.SIGTERM, None)
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    failed = [code for code in codes if code not in (0, -signal.SIGTERM, -signal.SIGINT)]
    return failed[0] if failed else 0


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as err:
        listener.close()
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror}") from err
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener
