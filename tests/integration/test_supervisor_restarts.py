"""``--processes 2`` under a light client loop: a SIGKILLed child (as an out-of-memory kill) is replaced and the
client sees no failure. The client uses the project's default retry policy (``markit.client.retry``), which
sends a prediction again after a dropped connection (``requests.ConnectionError``: the killed child's
connections are reset); the listening socket stays open in the parent, so no connection is refused."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests

from harness import KServeRuntimeProcess
from markit.client import TorchServeClient
from markit.client.retry import DEFAULT_RETRY

from helpers import png_bytes

pytestmark = pytest.mark.integration


class ClientLoop:
    """One client thread predicting in a closed loop; every outcome recorded with the time it came."""

    def __init__(self, runtime: KServeRuntimeProcess) -> None:
        self.client = TorchServeClient(runtime.url(), runtime.url(), runtime.key_file, retry=DEFAULT_RETRY)
        self.outcomes: list[tuple[float, str]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        red = png_bytes((220, 20, 30))
        while not self.stopped.is_set():
            try:
                reply = self.client.predict_bytes("tiny", red, "image/png")
                outcome = "ok" if reply.status == 200 else f"HTTP {reply.status} {reply.body}"
            except requests.RequestException as err:
                outcome = type(err).__name__
            self.outcomes.append((time.monotonic(), outcome))
            time.sleep(0.02)

    def failures(self) -> Counter[str]:
        return Counter(outcome for _, outcome in self.outcomes if outcome != "ok")

    def answered_between(self, start: float, end: float) -> int:
        return sum(1 for moment, outcome in self.outcomes if outcome == "ok" and start <= moment <= end)


def until(condition: Callable[[], bool], timeout: float, what: str, runtime: KServeRuntimeProcess) -> float:
    """Poll until ``condition``; the last moment it was still false."""
    deadline, last_false = time.monotonic() + timeout, time.monotonic()
    while not condition():
        assert time.monotonic() < deadline, f"{what} after {timeout:g} s\n{runtime.log_tail()}"
        last_false = time.monotonic()
        time.sleep(0.05)
    return last_false


def test_a_sigkilled_child_is_replaced_with_no_failed_request_and_the_new_child_serves(tiny_store, tmp_path):
    runtime = KServeRuntimeProcess(tiny_store, tmp_path / "runtime", ["--processes", "2"])
    runtime.start()
    loop = ClientLoop(runtime)
    try:
        runtime.wait_ready()
        first, second = runtime.children()
        loop.thread.start()
        time.sleep(1.0)
        os.kill(first, signal.SIGKILL)
        until(lambda: runtime.serving_starts() == 3, 30, "no replacement served", runtime)
        replacement = (set(runtime.children()) - {second}).pop()
        os.kill(second, signal.SIGKILL)  # now only the replacement can answer until the next one serves
        killed = time.monotonic()
        alone_until = until(lambda: runtime.serving_starts() == 4, 30, "no second replacement served", runtime)
        time.sleep(1.0)
        loop.stopped.set()
        loop.thread.join(30)
        assert replacement in runtime.children() and len(runtime.children()) == 2
    finally:
        loop.stopped.set()
        code = runtime.stop()
    assert not loop.failures(), f"{loop.failures()} of {len(loop.outcomes)}\n{runtime.log_tail()}"
    assert loop.answered_between(killed + 0.5, alone_until) > 0, "the replacement answered nothing while alone"
    log = (runtime.root / "kserve_runtime.out").read_text()
    assert log.count("was killed by SIGKILL") == 2 and code == 0
    print(f"{len(loop.outcomes)} requests, 0 failed, {loop.client.retries} retried after a reset connection")
