"""The printed report: ratio lines against their goals, and the machine they were measured on."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Ratio", "machine", "ratio_table"]


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` against a goal: at least ``goal`` (``at_least``), or at most."""

    what: str
    numerator: float
    denominator: float
    unit: str  # of the two figures, e.g. "images/s" or "ms"
    goal: float
    at_least: bool = True
    note: str = ""  # why the line cannot pass as measured (e.g. failed requests), or "" when it stands
    missing: str = ""  # why a figure could not be measured; the line is then SKIPPED
    rounds: tuple[float, ...] = ()  # the ratio in each round when measured in rounds; the value is then their median

    @property
    def value(self) -> float:
        if self.missing or self.denominator <= 0 or math.isnan(self.numerator) or math.isnan(self.denominator):
            return math.nan
        if self.rounds:
            return statistics.median(self.rounds)
        return self.numerator / self.denominator

    @property
    def spread(self) -> str:
        """The per-round ratios' range, e.g. "[1.41-1.58x, 3 rounds]"; "" for a single measurement."""
        if len(self.rounds) < 2:
            return ""
        return f"[{min(self.rounds):.2f}-{max(self.rounds):.2f}x, {len(self.rounds)} rounds]"

    @property
    def verdict(self) -> str:
        if self.missing:
            return "SKIPPED"
        if math.isnan(self.value) or self.note:
            return "MISS"
        met = self.value >= self.goal if self.at_least else self.value <= self.goal
        return "PASS" if met else "MISS"


def _figure(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def ratio_table(ratios: Sequence[Ratio]) -> str:
    """Aligned lines: what, the two figures, the ratio (and its range over rounds), the goal, PASS/MISS/SKIPPED (and why)."""
    width = max((len(r.what) for r in ratios), default=0)
    spread_width = max((len(r.spread) for r in ratios), default=0)
    lines = []
    for r in ratios:
        goal = f"{'>=' if r.at_least else '<='} {r.goal:g}"
        if r.missing:
            blank = f"{'':<{spread_width}}  " if spread_width else ""
            lines.append(f"  {r.what:<{width}}  {'':>23}  {'':>7}  {blank}goal {goal:<7}  SKIPPED: {r.missing}")
            continue
        figures = f"{_figure(r.numerator)} / {_figure(r.denominator)} {r.unit}"
        ratio = "-" if math.isnan(r.value) else f"{r.value:.2f}x"
        spread = f"{r.spread:<{spread_width}}  " if spread_width else ""
        tail = f" ({r.note})" if r.note else ""
        lines.append(f"  {r.what:<{width}}  {figures:>23}  {ratio:>7}  {spread}goal {goal:<7}  {r.verdict}{tail}")
    return "\n".join(lines)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """Cores, CPU model, torch version, Python."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cores} cores ({cpu_model()}), torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), "
            f"Python {platform.python_version()}")
