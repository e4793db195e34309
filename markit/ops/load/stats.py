"""Percentiles and the result of one load run, whatever generated the load."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .cpu import CpuShare

__all__ = ["LoadResult", "is_ok", "percentile"]


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of ``values``; NaN when there are none.

    Nearest rank never interpolates: the figure is a latency some request really had, and p99 of
    fewer than 100 values is the maximum."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def is_ok(status: int) -> bool:
    return 200 <= status < 300


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured. Latencies are in milliseconds and cover the successful (2xx) requests.

    ``failed`` counts non-2xx answers and requests that got no answer (connection errors, timeouts,
    sends dropped by the open-loop generator); ``late`` counts open-loop sends that left more than
    the allowed slack after their scheduled time (the generator itself fell behind); ``client_cpu``
    is the generator's CPU time over the wall time (1.0 = one core busy)."""

    generator: str
    seconds: float
    ok: int
    failed: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    client_cpu: float
    statuses: Mapping[int, int] = field(default_factory=dict)
    late: int = 0
    offered_rate: float | None = None  # open loop: the arrival rate asked for
    cores: CpuShare | None = None  # who kept the cores busy meanwhile, when it was watched

    @property
    def throughput(self) -> float:
        """Successful requests per second of the measured window."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_latencies(cls, generator: str, seconds: float, latencies_ms: Sequence[float], statuses: Mapping[int, int],
                       client_cpu: float, *, late: int = 0, offered_rate: float | None = None) -> LoadResult:
        """Summarize successful requests' latencies and every request's status (0 = no answer)."""
        ok = sum(count for status, count in statuses.items() if is_ok(status))
        failed = sum(count for status, count in statuses.items() if not is_ok(status))
        return cls(generator=generator, seconds=seconds, ok=ok, failed=failed,
                   p50_ms=percentile(latencies_ms, 50), p90_ms=percentile(latencies_ms, 90), p99_ms=percentile(latencies_ms, 99),
                   client_cpu=client_cpu, statuses=dict(statuses), late=late, offered_rate=offered_rate)

    def summary(self, with_rate: bool = True) -> str:
        """One line: rate (or, without it, the count), latency percentiles, failures, lateness, the generator's CPU."""
        counted = f"{self.throughput:.1f}/s ({self.ok} ok in {self.seconds:.1f} s)" if with_rate else f"{self.ok} ok"
        parts = [counted, f"p50 {self.p50_ms:.0f} ms, p90 {self.p90_ms:.0f} ms, p99 {self.p99_ms:.0f} ms"]
        if self.offered_rate is not None:
            parts.insert(0, f"offered {self.offered_rate:.1f}/s")
        if self.failed:
            kinds = ", ".join(f"{count}x {status or 'no answer'}" for status, count in sorted(self.statuses.items())
                              if not is_ok(status))
            parts.append(f"{self.failed} failed ({kinds})")
        if self.offered_rate is not None:
            parts.append(f"{self.late} sent late")
        if self.cores is None:
            parts.append(f"client CPU {100 * self.client_cpu:.0f}% of a core")
        else:
            parts.append(self.cores.summary())
        return "; ".join(parts)
