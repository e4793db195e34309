"""The fault benchmark's KServe runtime victims (the oldest process; replaced once a new one logged that it
serves) on a stand-in for ``KServeRuntimeProcess``."""

from __future__ import annotations

import threading

import pytest

from benchmarks.fault import FaultResult, _kserve_victims


class Runtime:
    """Children and "serving" log lines that a test changes as the killer runs."""

    key_file = None

    def __init__(self) -> None:
        self.pids, self.starts = [11, 12], 2

    def url(self) -> str:
        return "http://127.0.0.1:1"

    def children(self) -> list[int]:
        return list(self.pids)

    def serving_starts(self) -> int:
        return self.starts

    def log_tail(self) -> str:
        return "(log)"


def test_the_oldest_process_is_chosen_and_waited_for_until_a_new_one_serves():
    runtime = Runtime()
    victims = _kserve_victims(runtime, 2, timeout=5)
    assert victims.choose() == 11 and victims.kind == "process(es)"
    runtime.pids = [12]  # killed, the replacement not started yet

    def replaced() -> None:
        runtime.pids, runtime.starts = [12, 13], 3

    timer = threading.Timer(0.3, replaced)
    timer.start()
    victims.wait_replaced(11)
    assert runtime.starts == 3


def test_no_replacement_in_time_is_an_error_with_the_log():
    runtime = Runtime()
    victims = _kserve_victims(runtime, 2, timeout=0.3)
    victims.choose()
    runtime.pids = [12]
    with pytest.raises(RuntimeError, match=r"no new process serving 0.3 s after a kill\n\(log\)"):
        victims.wait_replaced(11)


def test_the_summary_names_what_was_killed():
    result = FaultResult("KServe runtime", "process(es)", sent=10, kills=2, recovery=[1.0, 2.5])
    assert result.summary().endswith("0 retries; 2 process(es) killed, process set whole again after 1.0, 2.5 s")
