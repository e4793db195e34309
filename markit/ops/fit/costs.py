"""What a batch costs the archive's handler, measured in process, and the straight line fitted through it.

A batch of ``b`` requests takes ``t(b) = fixed + per_item x b`` seconds (decode, forward, postprocess): the
fixed part is what batching shares (a call into the model, its dispatch), the per-item part what it cannot.
The line is fitted by least squares to the median time of each measured batch size, with neither part
negative (a negative fit is refitted with that part at zero: measurement noise, not a batch that pays
you back). Its residual says how well a line describes the handler; the spread of the measured times
around their medians (``jitter``) is what the simulation draws each batch's time from.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Costs", "Line", "Timing", "fit_line"]


@dataclass(frozen=True)
class Timing:
    """The measured wall times (seconds) of batches of ``batch_size`` at ``threads`` torch threads, one process alone."""

    threads: int
    batch_size: int
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True)
class Line:
    """``t(b) = fixed + per_item x b`` seconds; ``residual``: the root mean square of the medians' relative
    distances from the line (0.02 = 2 %)."""

    fixed: float
    per_item: float
    residual: float = 0.0

    def at(self, batch_size: int) -> float:
        return self.fixed + self.per_item * batch_size

    def describe(self) -> str:
        return f"t(b) = {1000 * self.fixed:.2f} ms + {1000 * self.per_item:.2f} ms x b (residual {100 * self.residual:.1f} %)"


def fit_line(points: Sequence[tuple[int, float]]) -> Line:
    """The least-squares line through ``(batch size, seconds)`` points, neither coefficient negative."""
    if not points:
        raise ValueError("no batch was timed")
    sizes = [float(size) for size, _ in points]
    times = [seconds for _, seconds in points]
    if len(set(sizes)) < 2:
        fixed, per_item = 0.0, statistics.fmean(t / b for b, t in zip(sizes, times, strict=True))
    else:
        mean_b, mean_t = statistics.fmean(sizes), statistics.fmean(times)
        per_item = (sum((b - mean_b) * (t - mean_t) for b, t in zip(sizes, times, strict=True))
                    / sum((b - mean_b) ** 2 for b in sizes))
        fixed = mean_t - per_item * mean_b
        if fixed < 0:  # through the origin
            fixed, per_item = 0.0, sum(b * t for b, t in zip(sizes, times, strict=True)) / sum(b * b for b in sizes)
        elif per_item < 0:  # flat
            fixed, per_item = mean_t, 0.0
    line = Line(fixed, per_item)
    residual = math.sqrt(statistics.fmean(((t - line.at(round(b))) / t) ** 2 for b, t in zip(sizes, times, strict=True)))
    return Line(fixed, per_item, residual)


@dataclass(frozen=True)
class Costs:
    """Every timing of one archive with one body, and how much slower each of ``side_by_side_count`` workers ran
    when they all ran at once (``side_by_side``: 1.0 = not at all), as processes or as threads of one process
    (``side_by_side_mode``, as the engine runs its workers)."""

    timings: tuple[Timing, ...]
    side_by_side: float = 1.0
    side_by_side_count: int = 1
    side_by_side_mode: str = "processes"

    @property
    def threads(self) -> tuple[int, ...]:
        return tuple(sorted({timing.threads for timing in self.timings}))

    def at(self, threads: int) -> list[Timing]:
        return sorted((timing for timing in self.timings if timing.threads == threads), key=lambda timing: timing.batch_size)

    def line(self, threads: int) -> Line:
        return fit_line([(timing.batch_size, timing.median) for timing in self.at(threads)])

    def largest_batch(self, threads: int) -> int:
        """Batch sizes beyond the largest measured are not predicted: the line is not known to hold there."""
        return max(timing.batch_size for timing in self.at(threads))

    def jitter(self, threads: int) -> tuple[float, ...]:
        """Each measured batch's time over its batch size's median, pooled over the sizes (sorted)."""
        ratios = []
        for timing in self.at(threads):
            median = timing.median
            ratios += [seconds / median for seconds in timing.seconds]
        return tuple(sorted(ratios))

    def crowding(self, workers: int) -> float:
        """How much slower each of ``workers`` busy workers runs than one alone: the measured side-by-side slowdown,
        interpolated linearly from 1 worker (1.0) to the count it was measured at."""
        if workers <= 1 or self.side_by_side_count <= 1:
            return 1.0
        share = min(1.0, (workers - 1) / (self.side_by_side_count - 1))
        return 1.0 + (self.side_by_side - 1.0) * share

    def cpu_crowding(self, workers: int) -> float:
        """The part of ``crowding`` that costs CPU time: all of it for processes (stalls on memory run on the core),
        none of it for threads of one process (a thread waiting for the GIL uses no core)."""
        return self.crowding(workers) if self.side_by_side_mode == "processes" else 1.0
