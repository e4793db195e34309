"""markit capacity against the sweep (benchmarks/capacity.py): the sweep's best setting within the p99 target, and
the agreement lines that pass only when the two capacities are within 15 % of each other."""

from __future__ import annotations

from benchmarks.capacity import render_agreement, within_target
from benchmarks.sweep import Measured, Tail
from markit.ops.fit.command import Fitted
from markit.ops.fit.confirm import Confirmation
from markit.ops.fit.model import Prediction
from markit.ops.fit.setting import Setting
from markit.ops.load.stats import LoadResult


def load(rate: float, p99: float = 20.0, failed: int = 0) -> LoadResult:
    return LoadResult("x", 10.0, ok=round(rate * 10), failed=failed, p50_ms=p99 / 2, p90_ms=p99, p99_ms=p99, client_cpu=0.0)


def measured(rate: float, open_p99: float, failed: int = 0) -> Measured:
    return Measured(Setting(1, 2, 1, 2), load(rate), Tail(load(1, 10.0), load(0.7 * rate, open_p99, failed)))


def fitted(rate: float, seconds: float = 90.0) -> Fitted:
    return Fitted(Prediction(Setting(1, 4, 5, 2), rate, "cores"), Confirmation(load(rate), load(0.7 * rate, 30.0)), seconds)


def test_the_sweeps_choice_is_the_fastest_tail_checked_setting_within_the_target():
    checked = [measured(230.0, 80.0), measured(220.0, 40.0), measured(210.0, 20.0), measured(225.0, 30.0, failed=1)]
    assert within_target(checked, 50.0).result.throughput == 220.0  # 230 misses the p99, 225 failed requests
    assert within_target(checked, 10.0) is None


def test_capacities_within_15_percent_pass_and_further_apart_miss():
    swept = measured(220.0, 40.0)
    close = render_agreement(fitted(200.0), swept, 50.0)
    assert close.count("PASS") == 3 and "MISS" not in close
    far = render_agreement(fitted(180.0, seconds=200.0), swept, 50.0)
    assert far.count("MISS") == 2  # 180 / 220 = 0.82, and 200 s is over 3 minutes
    assert "no tail-checked setting" in render_agreement(fitted(200.0), None, 50.0)
