"""Several processes serving one store (``--processes N``): what TorchServe's worker processes give, without the GIL.

Each child is the runtime itself (``python -m markit.engines.kserve ... --http-socket FD``): it loads every
archive, replays its golden examples, and only then accepts on the REST socket the parent opened for all of
them (whichever child is free accepts the next connection, so a busy one takes fewer; SO_REUSEPORT, tried
first, hashes connections to processes and measured a 1.26x p99 from uneven shares) and binds the gRPC
port with SO_REUSEPORT. Each archive's ``workers`` are shared among the processes.

The parent writes the token file before the children start (so all read the same token), points them at one
Prometheus multiprocess directory (so ``/metrics`` in any child counts every process), and supervises:

- a child that ends by itself (a crash, an out-of-memory SIGKILL) is replaced after a back-off (``Backoff``:
  0.5 s, doubling for each child in a row that died within ``settled`` seconds of its start, at most ``cap``);
  the others keep serving meanwhile, and the parent keeps the listening REST socket open, so connections
  queue for a live child instead of being refused;
- a child that exits 2 refused the store (at start, or later when the store on disk changed): restarting
  cannot help, so all stop and the parent exits 2;
- ``crash_loop`` children in a row that each died within ``settled`` seconds: the parent gives up, stops the
  rest and exits ``EXIT_CRASH_LOOP`` (3);
- SIGTERM and SIGINT are forwarded to every child and nothing is restarted: exit 0 when all stopped cleanly,
  else the first failed child's status;
- a parent that dies without forwarding (SIGKILL) takes its children with it: each asks the kernel for a
  SIGTERM when its parent ends (Linux's ``PR_SET_PDEATHSIG``), so no copy serves unsupervised.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import EXIT_USAGE, UsageError
from .auth import load_or_create_token
from .workdir import owned_dir

__all__ = ["EXIT_CRASH_LOOP", "METRICS_DIR_ENV", "Backoff", "Supervisor", "supervise"]

log = logging.getLogger(__name__)

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch to its multiprocess mode
EXIT_CRASH_LOOP = 3  # children kept dying right after their start: the parent gave up
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass(frozen=True)
class Backoff:
    """When a dead child is replaced, and when the parent gives up."""

    first: float = 0.5  # seconds before replacing a child that had lived ``settled`` seconds
    cap: float = 8.0  # the longest wait
    settled: float = 10.0  # a child that lived this long resets the count of quick deaths
    crash_loop: int = 5  # this many quick deaths in a row: give up

    def __post_init__(self) -> None:
        if not (0 <= self.first <= self.cap and self.settled > 0 and self.crash_loop >= 1):
            raise UsageError(f"back-off {self}: expected 0 <= first <= cap, settled > 0 and crash_loop >= 1")

    def delay(self, quick_deaths: int) -> float:
        """Seconds before the replacement, after ``quick_deaths`` children in a row died soon after starting."""
        return min(self.cap, self.first * 2 ** quick_deaths)


@dataclass
class _Slot:
    """One of the N places a child serves in: its current process, or when the next one starts."""

    process: subprocess.Popen | None = None
    started: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Runs ``processes`` copies of ``command`` and keeps them running (see the module's description)."""

    def __init__(self, command: Sequence[str], processes: int, *, env: dict[str, str] | None = None,
                 pass_fds: Sequence[int] = (), backoff: Backoff | None = None) -> None:
        self.command, self.env, self.pass_fds = list(command), env, tuple(pass_fds)
        self.backoff = backoff or Backoff()
        self.slots = [_Slot() for _ in range(processes)]
        self.quick_deaths = 0
        self.stopping: int | None = None  # the signal asked to stop with

    def pids(self) -> list[int]:
        return [slot.process.pid for slot in self.slots if slot.process is not None]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop every child with ``sig`` and replace none from now on (a signal handler may call this)."""
        self.stopping = sig
        for slot in self.slots:
            if slot.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(sig)

    def run(self) -> int:
        """Start the children and supervise them until stopped; the exit status (see the module's description)."""
        previous = {sig: signal.signal(sig, lambda sig, _frame: self.stop(sig)) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for slot in self.slots:
                self._start(slot)
            return self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _supervise(self) -> int:
        while self.stopping is None:
            for slot in self.slots:
                verdict = self._check(slot)
                if verdict is not None:
                    self.stop()
                    self._wait_all()
                    return verdict
            time.sleep(POLL_SECONDS)
        return self._wait_all()

    def _check(self, slot: _Slot) -> int | None:
        """Replace a dead child when its time comes; an exit status when the parent must stop."""
        now = time.monotonic()
        if slot.process is None:
            if now >= slot.restart_at and self.stopping is None:
                self._start(slot)
            return None
        code = slot.process.poll()
        if code is None or self.stopping is not None:
            return None
        lived, pid = now - slot.started, slot.process.pid
        slot.process = None
        if code == EXIT_USAGE:
            log.error("child %d refused the store (exit 2) after %.1f s: stopping all; see its message above", pid, lived)
            return EXIT_USAGE
        self.quick_deaths = self.quick_deaths + 1 if lived < self.backoff.settled else 0
        if self.quick_deaths >= self.backoff.crash_loop:
            log.error("giving up: %d children in a row died within %g s of their start (the last: pid %d, %s); "
                      "see their messages above", self.quick_deaths, self.backoff.settled, pid, _how(code))
            return EXIT_CRASH_LOOP
        delay = self.backoff.delay(self.quick_deaths)
        slot.restart_at = now + delay
        log.warning("child %d %s after %.1f s; the others keep serving, a new one starts in %.1f s", pid, _how(code), lived, delay)
        return None

    def _start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(self.command, env=self.env, pass_fds=self.pass_fds,
                                        preexec_fn=_ended_with(os.getpid()) if sys.platform.startswith("linux") else None)
        slot.started = time.monotonic()
        log.info("child %d started", slot.process.pid)
        if self.stopping is not None:  # the signal came while it was being started: stop() did not see it
            slot.process.send_signal(self.stopping)

    def _wait_all(self) -> int:
        codes = [slot.process.wait() for slot in self.slots if slot.process is not None]
        failed = [code for code in codes if code not in (0, -signal.SIGTERM, -signal.SIGINT)]
        return failed[0] if failed else 0


def _ended_with(parent: int) -> Callable[[], None]:
    """What a child runs before exec: a SIGTERM from the kernel when ``parent`` ends (and at once if it already has)."""

    def ask() -> None:
        # until exec this is a copy of the parent, whose SIGTERM handler would swallow the signal: the default ends it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return ask


def _how(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with {code}"


def supervise(child_args: Sequence[str], processes: int, host: str, http_port: int, key_file: Path | None,
              backoff: Backoff | None = None) -> int:
    """Run ``processes`` children with ``child_args`` until a signal (or a refusal, or a crash loop); the exit status."""
    if key_file is not None:
        load_or_create_token(key_file)
    listener = _listening_socket(host, http_port)  # held open here for the children to come
    command = [sys.executable, "-m", "markit.engines.kserve", *child_args, "--http-socket", str(listener.fileno()),
               "--processes", str(processes)]
    try:
        with owned_dir("markit-kserve-metrics-") as metrics_dir:
            supervisor = Supervisor(command, processes, env={**os.environ, METRICS_DIR_ENV: str(metrics_dir)},
                                    pass_fds=[listener.fileno()], backoff=backoff)
            return supervisor.run()
    finally:
        listener.close()


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
