"""``markit capacity`` against the full sweep (``benchmark.sh capacity``): the same archive, body and p99 target.

The sweep measures every setting served and checks the tail of those within 10 % of the best; its capacity
within the target is the highest closed-loop rate among those whose open-loop p99 (at 70 % of their own rate)
is within the target. ``markit capacity`` predicts from in-process costs and serves its choice once; its capacity
is that trial's closed-loop rate. The goal: the two capacities within 15 % of each other, in at most 3 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.report import Ratio, ratio_table
from benchmarks.sweep import Measured
from markit.ops.fit.command import Fitted

__all__ = ["AGREEMENT", "BUDGET", "render_agreement", "within_target"]

AGREEMENT = 0.15  # the two capacities within this fraction of each other
BUDGET = 180.0  # s: markit capacity's whole run


def within_target(checked: Sequence[Measured], p99: float) -> Measured | None:
    """The tail-checked setting with the highest closed-loop rate whose open-loop p99 is within ``p99`` ms."""
    meeting = [m for m in checked if m.tail is not None and m.tail.open.failed == 0 and m.tail.open.p99_ms <= p99]
    return max(meeting, key=lambda m: m.result.throughput, default=None)


def render_agreement(fitted: Fitted, swept: Measured | None, p99: float) -> str:
    """Both choices and capacities, then the goal lines (PASS/MISS)."""
    fit_rate = fitted.measured.closed.throughput if fitted.measured is not None else float("nan")
    fit_p99 = fitted.measured.opened.p99_ms if fitted.measured is not None else float("nan")
    lines = [f"within a p99 of {p99:g} ms:",
             f"  markit capacity chose {fitted.chosen.setting.label()}: predicted {fitted.chosen.capacity:.1f}/s, "
             f"its trial measured {fit_rate:.1f}/s with an open-loop p99 of {fit_p99:.1f} ms, in {fitted.seconds:.0f} s"]
    if swept is None:
        lines.append(f"  the sweep: no tail-checked setting had an open-loop p99 within {p99:g} ms")
        return "\n".join(lines)
    assert swept.tail is not None
    lines += [f"  the sweep's best within it: {swept.setting.label()}: {swept.result.throughput:.1f}/s closed loop, open-loop "
              f"p99 {swept.tail.open.p99_ms:.1f} ms", "",
              ratio_table([Ratio("capacity: markit capacity's trial / the sweep's", fit_rate, swept.result.throughput, "requests/s",
                                 1 - AGREEMENT),
                           Ratio("capacity: the sweep's / markit capacity's trial", swept.result.throughput, fit_rate, "requests/s",
                                 1 - AGREEMENT),
                           Ratio("markit capacity's run / 3 minutes", fitted.seconds, BUDGET, "s", 1.0, at_least=False)])]
    return "\n".join(lines)
