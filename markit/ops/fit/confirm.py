"""The chosen setting, measured served: one closed loop for its capacity, one open loop for its p99.

As the sweep measures a setting (docs/performance.md, "Load"): a closed loop of ``connections`` requests in flight
(``wrk``) warms the server up, then a second one is measured, the cores the server and everything else kept busy
read from ``/proc`` meanwhile; then an open loop at ``load`` x that throughput (a fixed arrival rate, latencies from
each request's due time, the first 2 s not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..load.body import Body
from ..load.runs import watched_closed_loop, watched_open_loop
from ..load.stats import LoadResult
from .trial import Served, TrialError

__all__ = ["Confirmation", "confirm"]


@dataclass(frozen=True)
class Confirmation:
    closed: LoadResult  # with the cores busy meanwhile
    opened: LoadResult

    @property
    def server_cpu(self) -> float | None:
        """CPU seconds the server used per answered request under the closed loop (None when not watched)."""
        if self.closed.cores is None or self.closed.throughput <= 0:
            return None
        return self.closed.cores.server / self.closed.throughput


def confirm(served: Served, body: Body, *, connections: int, seconds: float, warmup: float, load: float,
            progress: Callable[[str], None] = print) -> Confirmation:
    """Warm-up, closed loop, then open loop at ``load`` x the closed loop's rate, each ``seconds`` long."""
    closed = watched_closed_loop(served.url, served.token, served.group, body, connections=connections, seconds=seconds,
                                 warmup=warmup)
    progress(f"  closed loop, {connections} connections: {closed.summary()}")
    rate = load * closed.throughput
    if rate <= 0:
        raise TrialError(f"the trial server answered no request under the closed loop: {closed.summary()}")
    opened = watched_open_loop(served.url, served.token, served.group, body, rate=rate, seconds=seconds)
    progress(f"  open loop: {opened.summary()}")
    return Confirmation(closed, opened)
