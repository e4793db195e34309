"""The archive served with one setting, for a short trial: TorchServe or the KServe runtime, token authorization on.

Everything lives under one scratch directory: a store holding the archive (a hard link where the file system
allows), the server's working directory (its ``key_file.json``), its own ``TMPDIR`` and logs, and free loopback
ports (``markit.ops.ports``), so a trial never touches a server already running. The setting reaches the server as a
deployment gives it (docs/serving.md): workers, batch size and delay as deploy-time settings (TorchServe: a
``model_snapshot`` written by ``markit.ops.settings``; the KServe runtime: its ``--settings`` file), torch threads as
``ARCHIVE_TORCH_THREADS``. TorchServe starts as ``serve.sh foreground`` starts it (``markit.ops.launch``, the store
checked and unpacked by ``markit.archive.unpack``) from the given ``config.properties`` with this trial's ports,
store and temp directories; the KServe runtime as ``serve_kserve.sh`` starts it. Both run in a process group of
their own, stopped as a group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from ...archive.mar_file import read_mar
from ...archive.unpack import unpack_store
from ...client.client import TorchServeClient
from ...client.retry import NO_RETRY
from ...client.tokens import TokenError
from ...errors import MarkitError
from ..ports import free_ports
from ..settings import ServingSettings, run_config
from ..startup import worker_failures
from .measure import THREADS_VARIABLE
from .setting import Setting

__all__ = ["ENGINES", "Served", "TrialError", "serve"]

ENGINES = ("torchserve", "kserve")
OUTPUT = "server.out"
TS_PORTS = {"inference": "inference_address", "management": "management_address", "metrics": "metrics_address",
            "grpc_inference": "grpc_inference_port", "grpc_management": "grpc_management_port"}


class TrialError(MarkitError):
    """The trial server did not start or its workers did not become ready (exit 1); the message holds its log's tail."""


@dataclass(frozen=True)
class Served:
    """A trial server answering: the model's ``/predictions`` URL, the inference token, its process group."""

    engine: str
    url: str
    token: str
    group: int


@contextlib.contextmanager
def serve(engine: str, archive: Path, setting: Setting, root: Path, *, ts_config: Path | None = None,
          timeout: float = 180.0) -> Iterator[Served]:
    """``archive`` served by ``engine`` with ``setting`` under ``root`` (a new scratch directory) until the block ends."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    store = root / "store"
    for directory in (store, root / "work", root / "tmp", root / "logs", root / "java-tmp"):
        directory.mkdir(parents=True, exist_ok=True)
    _place(archive, store / archive.name)
    name = read_mar(archive).name
    starter = _torchserve if engine == "torchserve" else _kserve
    with starter(name, setting, root, ts_config, timeout) as served:
        yield served


def _place(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _environment(root: Path, setting: Setting) -> dict[str, str]:
    return {**os.environ, THREADS_VARIABLE: str(setting.threads), "TMPDIR": str(root / "tmp"),
            "LOG_LOCATION": str(root / "logs"), "METRICS_LOCATION": str(root / "logs")}


@contextlib.contextmanager
def _group(command: list[str], root: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen]:
    """``command`` in its own process group, its output in ``root/server.out``; the group stopped afterwards."""
    with (root / OUTPUT).open("wb") as output:
        process = subprocess.Popen(command, cwd=root / "work", env=dict(env), stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(process.pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=grace)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(ready: Callable[[], bool], process: subprocess.Popen, root: Path, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrialError(f"the trial server exited ({process.returncode}) before {what}\n{_tail(root)}")
        failures = worker_failures((root / "logs" / "model_log.log").read_text(encoding="utf-8", errors="replace").splitlines()
                                   if (root / "logs" / "model_log.log").exists() else [])
        if failures:
            raise TrialError(f"the trial server's workers cannot start: {failures[0].exception}\n{_tail(root)}")
        with contextlib.suppress(requests.RequestException, OSError, ValueError, KeyError, TokenError):
            if ready():
                return
        time.sleep(0.5)
    raise TrialError(f"the trial server was not ready after {timeout:.0f} s ({what})\n{_tail(root)}")


def _tail(root: Path, lines: int = 25) -> str:
    parts = []
    for path in (root / OUTPUT, root / "logs" / "ts_log.log", root / "logs" / "model_log.log"):
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(parts)


def _torchserve_config(text: str, values: Mapping[str, str]) -> str:
    """``text`` (a config.properties) with ``values`` in place of its own; ``vmargs`` is appended to, not replaced."""
    kept, vmargs = [], ""
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "vmargs" and not line.lstrip().startswith("#"):
            vmargs = line.split("=", 1)[1].strip()
        elif key not in values or line.lstrip().startswith("#"):
            kept.append(line)
    settings = {**values, "vmargs": f"{vmargs} {values.get('vmargs', '')}".strip()}
    return "\n".join([*kept, *(f"{key}={value}" for key, value in settings.items())]) + "\n"


@contextlib.contextmanager
def _torchserve(name: str, setting: Setting, root: Path, ts_config: Path | None, timeout: float) -> Iterator[Served]:
    if ts_config is None:
        raise ValueError("TorchServe needs a config.properties (ts_config)")
    workers = {"minWorkers": setting.workers, "maxWorkers": setting.workers, "batchSize": setting.batch_size,
               "maxBatchDelay": setting.max_batch_delay}
    text, _ = run_config(ts_config, root / "store", ServingSettings({name: workers}), Path("markit-capacity"))
    ports = dict(zip(TS_PORTS, free_ports(len(TS_PORTS)), strict=True))
    urls = {api: f"http://127.0.0.1:{port}" for api, port in ports.items()}
    values = {key: urls[api] if key.endswith("_address") else str(ports[api]) for api, key in TS_PORTS.items()}
    values.update({"model_store": str(root / "served"), "vmargs": f"-Djava.io.tmpdir={root / 'java-tmp'}"})
    config = root / "work" / "config.properties"
    config.write_text(_torchserve_config(text, values), encoding="utf-8")
    unpack_store(root / "store", root / "served")
    command = [sys.executable, "-m", "markit.ops.launch", "--ncs", "--model-store", str(root / "served"), "--ts-config", str(config)]
    client = TorchServeClient(urls["inference"], urls["management"], root / "work" / "key_file.json", retry=NO_RETRY)

    def ready() -> bool:
        reply = client.status(name)
        states = [worker.get("status") for version in reply.body for worker in version.get("workers", [])] if reply.ok else []
        return states.count("READY") == setting.workers

    with _group(command, root, _environment(root, setting)) as process:
        _wait(ready, process, root, timeout, f"{setting.workers} READY worker(s)")
        yield Served("torchserve", f"{urls['inference']}/predictions/{name}", client.token("inference"), process.pid)


@contextlib.contextmanager
def _kserve(name: str, setting: Setting, root: Path, _config: Path | None, timeout: float) -> Iterator[Served]:
    settings = root / "models.yaml"
    settings.write_text(f"models:\n  {name}:\n    workers: {setting.workers}\n    batch_size: {setting.batch_size}\n"
                        f"    max_batch_delay: {setting.max_batch_delay}\n", encoding="utf-8")
    http, grpc = free_ports(2)
    url = f"http://127.0.0.1:{http}"
    key_file = root / "work" / "key_file.json"
    command = [sys.executable, "-m", "markit.engines.kserve", "--model-store", str(root / "store"), "--http-port", str(http),
               "--grpc-port", str(grpc), "--key-file", str(key_file), "--settings", str(settings)]
    client = TorchServeClient(url, url, key_file, retry=NO_RETRY)
    with _group(command, root, _environment(root, setting)) as process:
        _wait(lambda: requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200, process, root, timeout, "ready")
        yield Served("kserve", f"{url}/predictions/{name}", client.token("inference"), process.pid)
