"""The runtime's temp dirs: removed at exit, and a killed runtime's removed by the next one that starts, never a
running one's (its lock is held) nor one without a lock file (maybe being made)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from markit.engines.kserve.workdir import LOCK, owned_dir, remove_abandoned

from helpers import kill, started

HOLD = """
import sys, time
from pathlib import Path
from markit.engines.kserve.workdir import owned_dir
with owned_dir("markit-kserve-", Path(sys.argv[1])) as path:
    (path / "unpacked").write_bytes(b"x" * 1000)
    print(path, flush=True)
    time.sleep(60)
"""


def holder(root: Path) -> tuple[subprocess.Popen, Path]:
    process, path = started(HOLD, str(root))
    return process, Path(path)


def test_the_dir_is_locked_while_in_use_and_removed_after(tmp_path):
    with owned_dir("markit-kserve-", tmp_path) as path:
        assert path.parent == tmp_path and path.name.startswith("markit-kserve-") and (path / LOCK).exists()
        assert remove_abandoned("markit-kserve-", tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_killed_processs_dir_goes_when_the_next_starts_a_running_ones_and_an_unlocked_one_stay(tmp_path):
    killed, killed_dir = holder(tmp_path)
    running, running_dir = holder(tmp_path)
    being_made = tmp_path / "markit-kserve-new"
    being_made.mkdir()
    other = tmp_path / "other-dir"
    other.mkdir()
    try:
        kill(killed)
        assert killed_dir.is_dir()  # a killed process removes nothing
        with owned_dir("markit-kserve-", tmp_path) as mine:
            assert sorted(tmp_path.iterdir()) == sorted([mine, running_dir, being_made, other])
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait()


def test_another_users_dir_and_a_link_are_left_alone(tmp_path, monkeypatch):
    killed, killed_dir = holder(tmp_path)
    kill(killed)
    link = tmp_path / "markit-kserve-link"
    link.symlink_to(killed_dir)
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)  # as if another user had started it
    assert remove_abandoned("markit-kserve-", tmp_path) == []
    monkeypatch.undo()
    assert remove_abandoned("markit-kserve-", tmp_path) == [killed_dir]
    assert link.is_symlink() and not link.exists()  # the link itself stays: it is not a dir of ours
