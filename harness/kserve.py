"""Starting a private KServe runtime (``python -m markit.engines.kserve``) beside a private TorchServe.

Own working directory (its ``key_file.json``), free loopback ports for REST and gRPC, its output in a log
file, its own process group. ``client`` is the same ``TorchServeClient`` TorchServe's tests use: the
runtime serves TorchServe's ``/predictions`` route and token file too, which is what migrating needs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from markit.client.client import TorchServeClient
from markit.client.retry import NO_RETRY
from markit.ops.launch import with_worker_defaults
from markit.ops.ports import free_ports

from .torchserve import ServerError

__all__ = ["KServeRuntimeProcess"]

OUTPUT = "kserve_runtime.out"


class KServeRuntimeProcess:
    """``with KServeRuntimeProcess(store, root) as runtime: runtime.client.predict_bytes(...)``."""

    def __init__(self, model_store: Path, root: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        """``args`` are passed to the runtime as given (e.g. ``--trust``, ``--settings``, ``--no-auth``)."""
        self.model_store = Path(model_store).resolve()
        self.root = Path(root).resolve()
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.http_port, self.grpc_port = free_ports(2)
        self.process: subprocess.Popen | None = None
        self.key_file = self.root / "key_file.json"
        self.client = TorchServeClient(self.url(), self.url(), None if "--no-auth" in self.args else self.key_file,
                                       retry=NO_RETRY)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def token(self) -> str:
        return self.client.token("inference")

    def __enter__(self) -> KServeRuntimeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "markit.engines.kserve", "--model-store", str(self.model_store),
                   "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), "--key-file", str(self.key_file),
                   *self.args]
        environment = {**with_worker_defaults(os.environ), **self.extra_env}
        self._output = (self.root / OUTPUT).open("wb")
        self.process = subprocess.Popen(command, cwd=self.root, env=environment, stdout=self._output,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Until ``/v2/health/ready`` answers 200 (every archive loaded and its golden examples reproduced)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise ServerError(f"the KServe runtime is not running (exit code {code})\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url()}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or (--processes) not accepting yet
                pass
            time.sleep(0.3)
        raise ServerError(f"the KServe runtime was not ready after {timeout:.0f} s\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        self._output.close()
        return process.returncode

    def children(self) -> list[int]:
        """The pids of the runtime's own processes under ``--processes N`` (its children), oldest first."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return sorted((int(pid) for pid in path.read_text().split()), key=_start_time)
        return []

    def serving_starts(self) -> int:
        """How many times a process of this runtime began to serve (its ``serving ... on http://`` log line)."""
        path = self.root / OUTPUT
        return path.read_text(encoding="utf-8", errors="replace").count(" on http://") if path.exists() else 0

    def log_tail(self, lines: int = 60) -> str:
        path = self.root / OUTPUT
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- KServe runtime output (last {len(text)} lines) ---\n" + "\n".join(text)


def _start_time(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22); 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[19])  # fields after the command name start at field 3
