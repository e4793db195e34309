"""Starting a private TorchServe: own working dir (its key_file.json), own TMPDIR (pid file), own
Java temp dir and worker port range (worker sockets), own logs, free loopback ports.

Two such servers never collide, which is what tests and demos running beside a real deployment
need. The server runs with ``--foreground`` in its own process group and is stopped as a group.

As ``serve.sh`` does, every archive of the store is checked and unpacked by ``markit.archive.unpack`` into the
server's own ``served/`` before Java starts, and TorchServe serves those directories: it never parses a zip.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import requests

from markit.archive.signing import TrustPolicy
from markit.archive.unpack import unpack_store
from markit.client.client import TorchServeClient, has_ready_worker
from markit.client.properties import read_properties
from markit.client.retry import NO_RETRY
from markit.client.tokens import TokenError
from markit.errors import MarkitError
from markit.ops.launch import with_worker_defaults
from markit.ops.ports import free_ports

__all__ = ["ServerError", "TorchServeProcess"]

LOG_FILES = ("ts_log.log", "model_log.log")
# each API's port and the config key that carries it (an HTTP API's address holds its port)
PORT_KEYS = {"inference": "inference_address", "management": "management_address", "metrics": "metrics_address",
             "grpc_inference": "grpc_inference_port", "grpc_management": "grpc_management_port"}
PORT_RESTARTS = 2  # starts on fresh ports when another process took a chosen one first


class ServerError(MarkitError):
    """TorchServe did not start or a model did not become ready; the message holds the log tail."""


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TorchServeProcess:
    """``with TorchServeProcess(base_config, store, root) as ts: ts.client.predict_bytes(...)``."""

    def __init__(
        self,
        base_config: Path,
        model_store: Path,
        root: Path,
        overrides: Mapping[str, str] | None = None,
        env: Mapping[str, str | None] | None = None,
        torchserve: Path | None = None,
        trust: TrustPolicy | None = None,
        unpack: bool = True,
    ) -> None:
        """``env`` adds to (or, with a ``None`` value, removes from) the inherited environment, which
        gets :data:`markit.ops.launch.WORKER_ENVIRONMENT` for what it does not set, as served archives do;
        ``torchserve`` is the executable to start (default: the one beside this Python), e.g. another
        venv's, whose workers then run on that venv's Python. ``start`` checks and unpacks the store's
        archives under ``trust`` (``MarFileError`` when one is refused); ``unpack=False`` hands TorchServe
        ``model_store`` as it is, for tests of what TorchServe and the workers do by themselves."""
        self.base_config = Path(base_config)
        self.model_store = Path(model_store).resolve()
        self.trust, self.unpack = trust, unpack
        self.root = Path(root).resolve()
        self.overrides = dict(overrides or {})
        self.extra_env = dict(env or {})
        self.torchserve = None if torchserve is None else Path(torchserve)
        self.worker_port = random.randrange(20000, 60000, 100)
        self.process: subprocess.Popen | None = None
        self._choose_ports()
        self._launch: tuple[Sequence[str] | None, Mapping[str, str] | None] = (None, None)
        self._restarts_left = PORT_RESTARTS

    def _choose_ports(self) -> None:
        self.ports = dict(zip(PORT_KEYS, free_ports(len(PORT_KEYS)), strict=True))
        # no retries: tests and benchmarks look at what the server itself answers
        self.client = TorchServeClient(self.url("inference"), self.url("management"), self.root / "work" / "key_file.json",
                                       retry=NO_RETRY)

    def url(self, api: str) -> str:
        return f"http://127.0.0.1:{self.ports[api]}"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> TorchServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def served_store(self) -> Path:
        """The store TorchServe reads: the archives unpacked by ``start``, or ``model_store`` with ``unpack=False``."""
        return self.root / "served" if self.unpack else self.model_store

    @property
    def config_path(self) -> Path:
        """Where :meth:`start` writes the config: the base config with this server's ports and paths."""
        return self.root / "work" / "config.properties"

    def write_config(self) -> Path:
        """Create the server's directories and write its config to :attr:`config_path` (``start`` does this)."""
        for name in ("work", "tmp", "logs", "java-tmp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config_text(), encoding="utf-8")
        return self.config_path

    def start(self, command: Sequence[str] | None = None, env: Mapping[str, str | None] | None = None) -> None:
        """Start ``torchserve --foreground`` in the server's working dir with its private TMPDIR and logs.

        ``command`` runs something else in its place that starts TorchServe in the foreground from
        the same working dir and environment (e.g. the container entrypoint, told where
        :attr:`config_path` is through ``env``).
        """
        self._launch = (command, env)
        self.write_config()
        if self.unpack and command is None:  # a command of its own (an entrypoint) unpacks for itself
            unpack_store(self.model_store, self.served_store, self.trust)
        if command is None:
            torchserve = str(self.torchserve) if self.torchserve else (
                shutil.which("torchserve", path=str(Path(sys.executable).parent)) or "torchserve")
            command = [torchserve, "--start", "--ncs", "--foreground", "--model-store", str(self.served_store),
                       "--ts-config", str(self.config_path)]
        settings: dict[str, str | None] = {
            **with_worker_defaults(os.environ),
            "TMPDIR": str(self.root / "tmp"),
            "LOG_LOCATION": str(self.log_dir),
            "METRICS_LOCATION": str(self.log_dir),
            **self.extra_env,
            **(env or {}),
        }
        environment = {key: value for key, value in settings.items() if value is not None}
        self.stdout = (self.root / "torchserve.out").open("wb")
        self.process = subprocess.Popen(
            list(command), cwd=self.root / "work", env=environment, stdout=self.stdout, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the whole process group (CLI, Java frontend, Python workers); SIGKILL what is left."""
        if self.process is None:
            return
        group = self.process.pid
        _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _group_alive(group) and time.monotonic() < deadline:
            self.process.poll()
            time.sleep(0.2)
        if _group_alive(group):
            _signal_group(group, signal.SIGKILL)
        self.process.wait(timeout=timeout)
        self.stdout.close()
        self.process = None

    def wait_listening(self, timeout: float = 120.0) -> None:
        """Until every port is bound and the management API answers with the server's token (models may still be loading)."""
        if not self._wait(lambda: self._bound() and self._answers(), timeout):
            raise ServerError(f"TorchServe did not listen within {timeout:.0f} s\n{self.log_tail()}")

    def wait_ready(self, models: Iterable[str], timeout: float = 180.0) -> None:
        """Until every port is bound and every model has a READY worker; ServerError with logs if not."""
        pending = list(models)

        def ready() -> bool:
            pending[:] = [m for m in pending if not self._ready(m)]
            return not pending and self._bound()

        if not self._wait(ready, timeout):
            raise ServerError(f"models {pending} not READY after {timeout:.0f} s\n{self.log_tail()}")

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Whether ``condition()`` held within ``timeout`` s, polling; ServerError at once if TorchServe exits."""
        return self._wait(condition, timeout)

    def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._port_taken():
                self._restart_on_fresh_ports()
            self._check_alive()
            if self.client.key_file.exists() and condition():
                return True
            time.sleep(0.3)
        return False

    def _bound(self) -> bool:
        """Whether its chosen ports accept connections: gRPC binds last, and a taken port ends the server."""
        for port in self._own_ports():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except OSError:
                return False
        return True

    def _answers(self) -> bool:
        try:
            return self.client.list_status() == 200
        except (requests.ConnectionError, ValueError, KeyError, OSError, TokenError):  # key file still being written
            return False

    def _check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise ServerError(f"TorchServe is not running (exit code {code})\n{self.log_tail()}")

    def _ready(self, model: str) -> bool:
        try:
            reply = self.client.status(model)
        except (requests.ConnectionError, ValueError, KeyError, OSError, TokenError):  # key file still being written
            return False
        return has_ready_worker(reply)

    def _own_ports(self) -> list[int]:
        """The chosen ports that ``overrides`` left in place (an override may bind a port of its own)."""
        return [port for name, port in self.ports.items() if PORT_KEYS[name] not in self.overrides]

    def _port_taken(self) -> bool:
        """Whether TorchServe exited failing to bind a port chosen for it (worth a start on fresh ports)."""
        if self.process is None or self.process.poll() is None or self._restarts_left <= 0:
            return False
        if len(self._own_ports()) < len(PORT_KEYS):
            return False
        out = self.root / "torchserve.out"
        return out.exists() and "Address already in use" in out.read_text(encoding="utf-8", errors="replace")

    def _restart_on_fresh_ports(self) -> None:
        self._restarts_left -= 1
        self.stop()
        self._choose_ports()
        self.start(*self._launch)

    # -- logs -------------------------------------------------------------------------------
    def log_text(self, name: str = "model_log.log") -> str:
        path = self.log_dir / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        parts = []
        for name in LOG_FILES:
            text = self.log_text(name).splitlines()[-lines:]
            parts.append(f"--- {name} (last {len(text)} lines) ---\n" + "\n".join(text))
        out = self.root / "torchserve.out"
        if out.exists():
            tail = out.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
            parts.append("--- torchserve stdout ---\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- config -----------------------------------------------------------------------------
    def _config_text(self) -> str:
        """The base config with this server's addresses, store, ports and temp dir substituted. The JVM's
        temp dir is added to the config's ``vmargs`` (or to an override's: ``vmargs=`` means the JVM's defaults)."""
        ports = {key: self.url(name) if key.endswith("_address") else str(self.ports[name]) for name, key in PORT_KEYS.items()}
        vmargs = self.overrides.get("vmargs", read_properties(self.base_config).get("vmargs", ""))
        settings = {
            **ports,
            "model_store": str(self.served_store),
            "initial_worker_port": str(self.worker_port),
            **self.overrides,
            "vmargs": f"{vmargs} -Djava.io.tmpdir={self.root / 'java-tmp'}".strip(),
        }
        lines = []
        for line in self.base_config.read_text(encoding="utf-8").splitlines():
            key = line.split("=", 1)[0].strip()
            if key in settings and not line.lstrip().startswith("#"):
                continue
            lines.append(line)
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"
