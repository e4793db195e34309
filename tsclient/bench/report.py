"""The printed report: ratio lines against their goals, and the machine they were measured on."""

from __future__ import annotations

import math
import os
import platform
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

    @property
    def value(self) -> float:
        if self.missing or self.denominator <= 0 or math.isnan(self.numerator) or math.isnan(self.denominator):
            return math.nan
        return self.numerator / self.denominator

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
    """Aligned lines: what, the two figures, the ratio, the goal, PASS/MISS/SKIPPED (and why)."""
    width = max((len(r.what) for r in ratios), default=0)
    lines = []
    for r in ratios:
        goal = f"{'>=' if r.at_least else '<='} {r.goal:g}"
        if r.missing:
            lines.append(f"  {r.what:<{width}}  {'':>23}  {'':>7}  goal {goal:<7}  SKIPPED: {r.missing}")
            continue
        figures = f"{_figure(r.numerator)} / {_figure(r.denominator)} {r.unit}"
        ratio = "-" if math.isnan(r.value) else f"{r.value:.2f}x"
        tail = f" ({r.note})" if r.note else ""
        lines.append(f"  {r.what:<{width}}  {figures:>23}  {ratio:>7}  goal {goal:<7}  {r.verdict}{tail}")
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
