"""What a client sees while workers are killed under load: ``python -m benchmarks fault``.

A private TorchServe serves the archive with its own workers (or, ``--engine kserve``, the KServe runtime
with ``--processes N``). Client threads send the body in a closed loop for ``seconds``, and a killer
SIGKILLs one worker (the one that served the longest; on the KServe runtime the oldest of its processes)
at evenly spaced moments, as an out-of-memory kill would. This is done twice: once through
``TorchServeClient`` with its default retry policy (``markit.client.retry``), then once sending each
request once. For each run it prints the requests sent, how many failed as the caller saw them
(non-200 or an exception), the retries, and how long the worker set took to be whole again (on the
KServe runtime: until the replacement process serves).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from benchmarks.bodies import Body
from benchmarks.servers import BenchServer, bench_server, place, worker_pids
from harness import KServeRuntimeProcess
from markit.archive.mar_file import read_mar
from markit.client import TorchServeClient
from markit.client.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy

__all__ = ["FaultResult", "run_fault", "run_fault_kserve"]

POLICIES = (("through TorchServeClient (default retries)", DEFAULT_RETRY), ("each request sent once", NO_RETRY))


@dataclass(frozen=True)
class Victims:
    """Where the load goes and what is killed: ``choose`` names a pid to SIGKILL, ``wait_replaced(pid)``
    returns once the killed one's replacement serves."""

    inference: str
    management: str
    key_file: Path | None
    choose: Callable[[], int | None]
    wait_replaced: Callable[[int], None]
    kind: str = "worker(s)"


@dataclass
class FaultResult:
    label: str
    kind: str = "worker(s)"
    sent: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # "HTTP 507", "ConnectionError", ...
    retries: int = 0
    kills: int = 0
    recovery: list[float] = field(default_factory=list)  # seconds until every worker was READY again, per kill

    def summary(self) -> str:
        failures = ", ".join(f"{n} {kind}" for kind, n in self.failed.most_common()) or "none"
        whole = ", ".join(f"{s:.1f}" for s in self.recovery) or "-"
        return (f"{self.label}: {self.sent} requests, {sum(self.failed.values())} failed as the caller saw them ({failures}), "
                f"{self.retries} retries; {self.kills} {self.kind} killed, {self.kind.split('(')[0]} set whole again after {whole} s")


def run_fault(archive: Path, body: Body, *, clients: int, seconds: float, kills: int,
              progress: Callable[[str], None]) -> list[FaultResult]:
    """The same fault twice: through the client's retries, then without them."""
    info = read_mar(archive)
    results = []
    for label, policy in POLICIES:
        with tempfile.TemporaryDirectory(prefix="bench-fault-") as tmp, \
                bench_server([archive], Path(tmp), load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
            progress(f"fault: {label}: {clients} clients for {seconds:g} s, {kills} worker kill(s) ...")
            result = _one_run(_torchserve_victims(server, info.name, info.settings["maxWorkers"]), info.name, body, policy,
                              label, clients=clients, seconds=seconds, kills=kills)
            progress(result.summary())
            results.append(result)
    return results


def run_fault_kserve(archive: Path, body: Body, *, processes: int, clients: int, seconds: float, kills: int,
                     progress: Callable[[str], None]) -> list[FaultResult]:
    """The same fault on the KServe runtime with ``--processes``: one of its processes SIGKILLed at each moment."""
    info = read_mar(archive)
    results = []
    for label, policy in POLICIES:
        with tempfile.TemporaryDirectory(prefix="bench-fault-") as tmp:
            store = Path(tmp) / "model_store"
            store.mkdir()
            place(archive, store / archive.name)
            with KServeRuntimeProcess(store, Path(tmp) / "kserve", ["--processes", str(processes)]) as runtime:
                runtime.wait_ready()
                label_here = f"KServe runtime, {processes} processes, {label}"
                progress(f"fault: {label_here}: {clients} clients for {seconds:g} s, {kills} process kill(s) ...")
                result = _one_run(_kserve_victims(runtime, processes), info.name, body, policy, label_here,
                                  clients=clients, seconds=seconds, kills=kills)
            progress(result.summary())
            results.append(result)
    return results


def _one_run(victims: Victims, model: str, body: Body, policy: RetryPolicy, label: str, *,
             clients: int, seconds: float, kills: int) -> FaultResult:
    result = FaultResult(label, victims.kind)
    lock, stop = threading.Lock(), threading.Event()
    callers = [TorchServeClient(victims.inference, victims.management, victims.key_file, retry=policy) for _ in range(clients)]

    def send(client: TorchServeClient) -> None:
        while not stop.is_set():
            try:
                reply = client.predict_bytes(model, body.data, body.content_type)
                message = reply.body.get("message", "") if isinstance(reply.body, dict) else str(reply.body)
                outcome = None if reply.status == 200 else f"HTTP {reply.status} {message[:60]!r}"
            except requests.RequestException as err:
                outcome = type(err).__name__
            with lock:
                result.sent += 1
                if outcome:
                    result.failed[outcome] += 1

    threads = [threading.Thread(target=send, args=(client,), daemon=True) for client in callers]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    for moment in range(1, kills + 1):
        time.sleep(max(0.0, started + seconds * moment / (kills + 1) - time.monotonic()))
        pid = victims.choose()
        if pid is None:
            continue
        os.kill(pid, signal.SIGKILL)
        result.kills += 1
        killed_at = time.monotonic()
        victims.wait_replaced(pid)
        result.recovery.append(time.monotonic() - killed_at)
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    result.retries = sum(client.retries for client in callers)
    return result


def _torchserve_victims(server: BenchServer, model: str, workers: int) -> Victims:
    process = server.process
    return Victims(process.url("inference"), process.url("management"), process.client.key_file,
                   lambda: _oldest_worker(server, model), lambda pid: _wait_replaced(server, model, workers, pid))


def _kserve_victims(runtime: KServeRuntimeProcess, processes: int, timeout: float = 120.0) -> Victims:
    """The oldest of the runtime's processes; replaced once a new one logged that it serves."""
    starts = [0]

    def choose() -> int | None:
        starts[0] = runtime.serving_starts()
        return next(iter(runtime.children()), None)

    def wait_replaced(killed: int) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            children = runtime.children()
            if runtime.serving_starts() > starts[0] and len(children) == processes and killed not in children:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the KServe runtime had no new process serving {timeout:g} s after a kill\n{runtime.log_tail()}")

    return Victims(runtime.url(), runtime.url(), runtime.key_file, choose, wait_replaced, kind="process(es)")


def _oldest_worker(server: BenchServer, model: str) -> int | None:
    """The pid of a READY worker of ``model`` (the lowest pid: the longest-lived)."""
    return min(worker_pids(server.process.client, model, ready_only=True), default=None)


def _wait_replaced(server: BenchServer, model: str, workers: int, killed: int, timeout: float = 120.0) -> None:
    """Until ``workers`` workers are READY and the killed one is not among them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(server.process.client, model, ready_only=True)
        if len(pids) >= workers and killed not in pids:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{model}: the worker set was not whole {timeout:g} s after a kill")
