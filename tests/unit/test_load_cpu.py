"""Who kept the cores busy during a run, read from a /proc laid out like Linux's."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from markit.ops.load.cpu import CpuWatch, group_seconds, machine_busy_seconds

TICK = os.sysconf("SC_CLK_TCK")


def fake_proc(root: Path, processes: dict[int, tuple[str, int, int]], stat: str) -> Path:
    """``processes``: pid -> (command, process group, CPU ticks)."""
    root.mkdir()
    (root / "stat").write_text(stat)
    (root / "self").mkdir()  # not a pid: skipped
    for pid, (command, group, ticks) in processes.items():
        (root / str(pid)).mkdir()
        # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
        (root / str(pid) / "stat").write_text(f"{pid} ({command}) S 1 {group} {group} 0 -1 0 0 0 0 0 {ticks} {ticks} 0 0 20 0\n")
    return root


def test_machine_busy_time_leaves_out_idle_and_iowait(tmp_path):
    proc = fake_proc(tmp_path / "proc", {}, "cpu  100 5 20 1000 50 3 2 7 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
    assert machine_busy_seconds(proc) == pytest.approx((100 + 5 + 20 + 3 + 2 + 7) / TICK)


def test_a_process_group_s_time_sums_its_members_only(tmp_path):
    processes = {10: ("java", 10, 30), 11: ("python (a worker)", 10, 20), 12: ("other", 12, 500)}
    proc = fake_proc(tmp_path / "proc", processes, "cpu  0 0 0 0 0 0 0 0\n")
    assert group_seconds(10, proc) == pytest.approx(2 * (30 + 20) / TICK)  # utime + stime; ") " inside a name is handled
    assert group_seconds(99, proc) == 0
    assert group_seconds(10, proc, command="java") == pytest.approx(2 * 30 / TICK)  # the frontend alone


def test_a_busy_loop_in_this_process_counts_as_the_generator_not_as_the_server():
    with CpuWatch(None) as watch:
        started = time.process_time()
        while time.process_time() - started < 0.2:
            pass
    assert watch.share.server == 0 and watch.share.client > 0
