"""Who used the cores during a measurement: the server, the load generator, or something else.

On a small shared machine a figure means little without this: a run during which another process
held a core measures the other process too. Read from ``/proc`` (Linux): the whole machine's busy
time (``/proc/stat``) and the CPU time of every process in the server's process group (TorchServe's
frontend and its Python workers share the group :class:`markit.ops.TorchServeProcess` starts).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = ["CpuShare", "CpuWatch", "cores_used", "group_seconds", "machine_busy_seconds"]

T = TypeVar("T")

PROC = Path("/proc")
FRONTEND = "java"  # TorchServe's frontend process


def machine_busy_seconds(proc: Path = PROC) -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    fields = [int(value) for value in (proc / "stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def group_seconds(group: int, proc: Path = PROC, command: str | None = None) -> float:
    """CPU seconds used so far by the live processes of process group ``group`` (only those whose
    command is ``command``, e.g. ``java`` for TorchServe's frontend, when given)."""
    by_command = _group_seconds_by_command(group, proc)
    return sum(by_command.values()) if command is None else by_command.get(command, 0.0)


def _group_seconds_by_command(group: int, proc: Path = PROC) -> dict[str, float]:
    """One pass over ``/proc``: the CPU seconds of group ``group``'s live processes, per command."""
    ticks: dict[str, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):  # ended meanwhile
            continue
        fields = rest.split()
        if int(fields[2]) == group:  # after the command: state, ppid, pgrp, ..., utime (11), stime (12)
            ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    return {name: count / os.sysconf("SC_CLK_TCK") for name, count in ticks.items()}


def cores_used(run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result and the cores this process kept busy while it ran (CPU time / wall time)."""
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = run()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu / wall if wall > 0 else 0.0


def _own_seconds() -> float:
    """This process and its waited-for children (the wrk runs)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuShare:
    """Average cores busy during a window: with the server (of which its Java frontend), with the
    benchmark itself, with anything else."""

    server: float
    client: float
    others: float
    frontend: float | None = None  # part of ``server``

    def summary(self) -> str:
        frontend = "" if self.frontend is None else f" (frontend {self.frontend:.2f})"
        return (f"cores busy: server {self.server:.2f}{frontend}, load generator {self.client:.2f}, "
                f"other processes {self.others:.2f}")


class CpuWatch:
    """``with CpuWatch(server_group) as watch: ...`` then ``watch.share``."""

    def __init__(self, group: int | None) -> None:
        self.group = group
        self.share = CpuShare(0.0, 0.0, 0.0)

    def _snapshot(self) -> tuple[float, float, float, float, float]:
        by_command = _group_seconds_by_command(self.group) if self.group is not None else {}
        server, frontend = sum(by_command.values()), by_command.get(FRONTEND, 0.0)
        return time.monotonic(), machine_busy_seconds(), server, _own_seconds(), frontend

    def __enter__(self) -> CpuWatch:
        self._start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        wall, busy, server, own, frontend = (after - before for after, before in zip(end, self._start, strict=True))
        if wall > 0:
            self.share = CpuShare(server / wall, own / wall, max(0.0, busy - server - own) / wall,
                                  frontend / wall if self.group is not None else None)
