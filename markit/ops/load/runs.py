"""The two loads a served model gets, each with the cores its server kept busy meanwhile: a closed loop after a
warm-up (its capacity), and an open loop at a fixed rate (its latency under that load). ``markit capacity``'s trial
and the checkout's benchmarks both measure with these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .body import Body
from .cpu import CpuWatch
from .openloop import WARMUP, open_loop
from .stats import LoadResult
from .wrk import run_wrk

__all__ = ["watched_closed_loop", "watched_open_loop"]


def watched_closed_loop(url: str, token: str | None, group: int | None, body: Body, *, connections: int, seconds: float,
                        warmup: float, headers: Mapping[str, str] | None = None) -> LoadResult:
    """wrk for ``warmup`` s (not counted), then ``seconds`` counted, the cores of ``group`` (the server's process
    group) and of everything else watched meanwhile."""
    run_wrk(url, body.data, body.content_type, token, connections=connections, seconds=warmup, headers=headers)
    with CpuWatch(group) as watch:
        result = run_wrk(url, body.data, body.content_type, token, connections=connections, seconds=seconds, headers=headers)
    return dataclasses.replace(result, cores=watch.share)


def watched_open_loop(url: str, token: str | None, group: int | None, body: Body, *, rate: float, seconds: float,
                      warmup: float = WARMUP) -> LoadResult:
    """``rate`` requests/s for ``warmup`` + ``seconds`` (the warm-up not counted), the cores watched meanwhile."""
    with CpuWatch(group) as watch:
        result = open_loop(url, body.data, body.content_type, token, rate=rate, seconds=seconds, warmup=warmup)
    return dataclasses.replace(result, cores=watch.share)
