"""What ``markit capacity`` prints: the fitted costs, the candidates it simulated, the prediction against the trial."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .confirm import Confirmation
from .costs import Costs
from .model import Engine, Prediction

__all__ = ["DISTURBED", "ROWS", "candidates_table", "comparison", "costs_lines"]

DISTURBED = 0.25  # cores kept busy by other processes above which a measurement is flagged (as the sweep's)
ROWS = 12  # candidates shown, highest capacity first (the chosen one always)


def costs_lines(costs: Costs, others: float | None) -> list[str]:
    """One line per thread count: the medians measured and the line fitted through them."""
    lines = []
    for threads in costs.threads:
        medians = ", ".join(f"{t.batch_size}: {1000 * t.median:.1f}" for t in costs.at(threads))
        lines.append(f"  {threads} thread(s), ms per batch by size {medians}  ->  {costs.line(threads).describe()}")
    if costs.side_by_side_count > 1:
        workers = "threads of one process" if costs.side_by_side_mode == "threads" else "processes"
        lines.append(f"  {costs.side_by_side_count} {workers} side by side: each {costs.side_by_side:.2f}x as slow as alone")
    if others is not None and others > DISTURBED:
        lines.append(f"  caution: other processes kept {others:.2f} cores busy meanwhile: these costs are pessimistic, "
                     "and so is what follows from them")
    return lines


def candidates_table(considered: Sequence[Prediction], chosen: Prediction, p99: float, load: float, rows: int = ROWS) -> str:
    """The simulated candidates, highest capacity first (then lowest p99), at most ``rows`` of them and the chosen one;
    the chosen one marked, those over the target flagged."""
    ranked = sorted(considered, key=lambda p: (-p.capacity, p.p99))
    shown = ranked[:rows] if chosen in ranked[:rows] else [*ranked[:rows - 1], chosen]
    lines = [f"  {'workers':>7} {'threads':>7} {'batch':>5} {'delay ms':>8} {'capacity/s':>10} {'bound':>7} "
            f"{f'p50 ms @{100 * load:.0f}%':>11} {f'p99 ms @{100 * load:.0f}%':>11} {'batch formed':>12}"]
    for p in shown:
        s, tail = p.setting, p.tail
        p50, p99_ms, formed = (1000 * tail.p50, 1000 * tail.p99, tail.mean_batch) if tail else (math.nan, math.nan, math.nan)
        mark = "  <- chosen" if p is chosen else ("  > target" if p.p99 > p99 else "")
        lines.append(f"  {s.workers:>7} {s.threads:>7} {s.batch_size:>5} {s.max_batch_delay:>8} {p.capacity:>10.1f} {p.bound:>7} "
                     f"{p50:>11.1f} {p99_ms:>11.1f} {formed:>12.2f}{mark}")
    if len(ranked) > len(shown):
        lines.append(f"  ... and {len(ranked) - len(shown)} more simulated, of no higher capacity or a higher p99")
    return "\n".join(lines)


def comparison(chosen: Prediction, confirmation: Confirmation, engine: Engine, handler_cpu: float) -> list[str]:
    """Predicted against measured: capacity, p99, and the CPU the engine spent per request beyond the handler's."""
    closed, opened = confirmation.closed, confirmation.opened
    lines = [f"  capacity: measured {closed.throughput:.1f}/s, predicted {chosen.capacity:.1f}/s "
             f"({_off(chosen.capacity, closed.throughput)})",
             f"  p99 at {opened.offered_rate or 0:.1f}/s: measured {opened.p99_ms:.1f} ms, predicted {1000 * chosen.p99:.1f} ms "
             f"at {chosen.tail.rate if chosen.tail else math.nan:.1f}/s ({_off(1000 * chosen.p99, opened.p99_ms)})"]
    if confirmation.server_cpu is not None:
        beyond = confirmation.server_cpu - handler_cpu
        lines.append(f"  the engine's CPU per request beyond the handler's: measured {1000 * beyond:.2f} ms, assumed "
                     f"{1000 * engine.cpu(chosen.setting.batch_size):.2f} ms at batch {chosen.setting.batch_size} "
                     "(--overhead-ms sets it)")
    if closed.cores is not None and closed.cores.others > DISTURBED:
        lines.append(f"  caution: other processes kept {closed.cores.others:.2f} cores busy during the closed loop")
    return lines


def _off(predicted: float, measured: float) -> str:
    if not measured > 0 or math.isnan(predicted):
        return "no measurement"
    return f"prediction {100 * (predicted / measured - 1):+.0f} %"
