"""A runtime process's own temp dirs (its unpacked archives, the supervisor's metrics files): removed when it
exits, and, when it was killed instead, by the next runtime that starts.

A process holds an exclusive lock on its dir's ``.lock`` for as long as it runs (the lock file is locked under
another name, then renamed, so no one sees it unlocked), and the kernel drops the lock when the process dies
however it dies. A dir whose lock can be taken is therefore no running process's: an OOM-killed or SIGKILLed
runtime's, left in a TMPDIR that outlives it (a pod's emptyDir survives a container restart, and the MiniLM
store unpacked is 437 MB). A dir without a ``.lock`` is left alone: it may be one being made right now; so is
another user's.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["owned_dir", "remove_abandoned"]

log = logging.getLogger(__name__)

LOCK = ".lock"


@contextlib.contextmanager
def owned_dir(prefix: str, root: Path | None = None) -> Iterator[Path]:
    """A new dir ``ROOT/PREFIX*`` (ROOT: the temp dir), locked while the block runs and removed after it; the
    abandoned dirs of that prefix are removed first."""
    root = Path(root or tempfile.gettempdir())
    gone = remove_abandoned(prefix, root)
    if gone:
        log.info("removed %d temp dir(s) left by killed runtimes: %s", len(gone), ", ".join(path.name for path in gone))
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    descriptor = os.open(path / ".lock-making", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.rename(path / ".lock-making", path / LOCK)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(descriptor)


def remove_abandoned(prefix: str, root: Path) -> list[Path]:
    """Remove the dirs ``ROOT/PREFIX*`` whose ``.lock`` no process holds; the ones removed."""
    gone = []
    for path in sorted(Path(root).glob(f"{prefix}*")):
        if _ours(path) and _abandoned(path / LOCK):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def _ours(path: Path) -> bool:
    """A real dir (not a link) of this user's: another user's dirs in a shared /tmp are not ours to judge."""
    try:
        status = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()


def _abandoned(lock: Path) -> bool:
    try:
        descriptor = os.open(lock, os.O_WRONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # no lock file (yet), or not ours to open
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its process is running
    finally:
        os.close(descriptor)  # also releases the lock taken, before the dir is removed
    return True
