"""The ``--processes`` supervisor on stand-in children (small Python commands): a dead child is replaced after a
back-off, a refusal (exit 2) stops all, a crash loop gives up with 3, SIGTERM stops everything with 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from markit.engines.kserve.processes import EXIT_CRASH_LOOP, Backoff, Supervisor
from markit.errors import UsageError

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
FAST = Backoff(first=0.05, cap=0.4, settled=1.0, crash_loop=3)


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def run_in_thread(supervisor: Supervisor) -> tuple[threading.Thread, list[int]]:
    """``supervisor._supervise`` in a thread (signal handlers need the main thread; ``run`` is tested there)."""
    result: list[int] = []
    for slot in supervisor.slots:
        supervisor._start(slot)
    thread = threading.Thread(target=lambda: result.append(supervisor._supervise()), daemon=True)
    thread.start()
    return thread, result


def test_the_back_off_doubles_from_half_a_second_to_its_cap():
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


@pytest.mark.parametrize("fields", [{"first": 2.0, "cap": 1.0}, {"settled": 0}, {"crash_loop": 0}])
def test_a_back_off_that_cannot_work_is_refused_naming_the_rule(fields):
    with pytest.raises(UsageError, match="expected 0 <= first <= cap"):
        Backoff(**fields)


def test_a_killed_child_is_replaced_while_the_other_keeps_running_and_sigterm_stops_all_with_0():
    supervisor = Supervisor(SLEEPER, 2, backoff=FAST)
    thread, result = run_in_thread(supervisor)
    first, other = supervisor.pids()
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: len(supervisor.pids()) == 2 and first not in supervisor.pids())
    assert other in supervisor.pids()  # never stopped
    assert supervisor.quick_deaths == 1  # it died within `settled` of its start: the next wait doubles
    supervisor.stop()
    thread.join(10)
    assert result == [0] and not thread.is_alive()


def test_a_child_that_lived_a_while_resets_the_back_off():
    supervisor = Supervisor(SLEEPER, 1, backoff=Backoff(first=0.05, cap=0.4, settled=0.3, crash_loop=2))
    thread, result = run_in_thread(supervisor)
    supervisor.quick_deaths = 1  # one quick death already: one more would give up
    time.sleep(0.5)  # longer than `settled`
    pid = supervisor.pids()[0]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: supervisor.pids() not in ([], [pid]))
    assert supervisor.quick_deaths == 0 and thread.is_alive()
    supervisor.stop()
    thread.join(10)
    assert result == [0]


def test_children_dying_right_after_their_start_make_the_parent_give_up_with_3():
    crashing = [sys.executable, "-c", "raise SystemExit(1)"]
    started = time.monotonic()
    thread, result = run_in_thread(Supervisor(crashing, 2, backoff=FAST))
    thread.join(20)
    assert result == [EXIT_CRASH_LOOP]
    assert time.monotonic() - started < 5  # 3 quick deaths: waits of 0.1 and 0.2 s, not a retry forever


def test_a_child_that_refuses_the_store_stops_the_others_and_the_parent_exits_2(tmp_path):
    first = tmp_path / "first"  # the child that creates it refuses; the others would serve
    refusing = [sys.executable, "-c", f"import os, time\ntry: os.close(os.open({str(first)!r}, os.O_CREAT | os.O_EXCL))\n"
                "except FileExistsError: time.sleep(60)\nelse: raise SystemExit(2)"]
    supervisor = Supervisor(refusing, 3, backoff=FAST)
    thread, result = run_in_thread(supervisor)
    thread.join(20)
    assert result == [2]
    assert all(slot.process is None or slot.process.poll() is not None for slot in supervisor.slots)


def test_run_forwards_sigterm_to_every_child_and_replaces_none():
    supervisor = Supervisor(SLEEPER, 2, backoff=FAST)
    timer = later(1.0, lambda: os.kill(os.getpid(), signal.SIGTERM))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = supervisor.run()
    finally:
        timer.cancel()
    assert code == 0
    assert [slot.process.returncode for slot in supervisor.slots] == [-signal.SIGTERM, -signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored


@pytest.mark.parametrize("attempt", range(6))  # the parent killed at once: at times while a child is still before exec
def test_children_end_when_the_parent_is_sigkilled(attempt):
    parent = subprocess.Popen([sys.executable, "-c", "import sys\nfrom markit.engines.kserve.processes import Supervisor\n"
                               f"sys.exit(Supervisor({SLEEPER!r}, 2).run())"])
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    try:
        deadline, pids = time.monotonic() + 10, []
        while len(pids) < 2 and time.monotonic() < deadline:  # no pause: kill as soon as the second child is forked
            pids = [int(pid) for pid in children.read_text().split()]
        assert len(pids) == 2
    finally:
        parent.kill()
        parent.wait(10)
    assert wait_for(lambda: all(_state(pid) == "Z" for pid in pids), timeout=5)


def _state(pid: int) -> str:
    """A process's state letter; "Z" for a zombie or a process gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_child_started_while_a_stop_signal_arrives_is_stopped_too():
    supervisor = Supervisor(SLEEPER, 1, backoff=FAST)
    supervisor.stopping = signal.SIGTERM  # as if the handler ran during Popen, before the slot held the process
    supervisor._start(supervisor.slots[0])
    assert supervisor._wait_all() == 0 and supervisor.slots[0].process.returncode == -signal.SIGTERM
