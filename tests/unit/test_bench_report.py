"""The compare report: ratio lines against goals, and which lines a missing measurement skips."""

from __future__ import annotations

import math

from benchmarks.compare import Figures, Round, ratios
from benchmarks.inprocess import Ceiling
from benchmarks.report import Ratio, cpu_model, ratio_table
from markit.ops.load.stats import LoadResult


def test_at_least_and_at_most_goals():
    assert Ratio("a", 26.0, 20.0, "images/s", 1.3).verdict == "PASS"
    assert Ratio("a", 25.0, 20.0, "images/s", 1.3).verdict == "MISS"
    assert Ratio("p", 290.0, 100.0, "ms", 3.0, at_least=False).verdict == "PASS"
    assert Ratio("p", 310.0, 100.0, "ms", 3.0, at_least=False).verdict == "MISS"


def test_a_line_with_failed_requests_or_no_figure_cannot_pass():
    assert Ratio("a", 50.0, 1.0, "images/s", 1.3, note="2 request(s) failed").verdict == "MISS"
    assert Ratio("a", 50.0, 0.0, "images/s", 1.3).verdict == "MISS"
    assert math.isnan(Ratio("a", math.nan, 1.0, "images/s", 1.3).value)
    assert Ratio("a", math.nan, math.nan, "ms", 4.0, missing="no stock venv").verdict == "SKIPPED"


def test_the_table_prints_both_figures_the_ratio_the_goal_and_the_verdict():
    text = ratio_table([Ratio("ours / stock", 31.2, 20.0, "images/s", 1.3),
                        Ratio("p99 / p50", 240.0, 80.0, "ms", 3.0, at_least=False, note="1 request(s) failed"),
                        Ratio("12-MP", math.nan, math.nan, "ms", 4.0, missing="no full-decode archive")])
    lines = text.splitlines()
    assert lines[0].split() == ["ours", "/", "stock", "31.2", "/", "20.0", "images/s", "1.56x", "goal", ">=", "1.3", "PASS"]
    assert lines[1].split()[-8:] == ["3.00x", "goal", "<=", "3", "MISS", "(1", "request(s)", "failed)"]
    assert lines[2].endswith("goal >= 4     SKIPPED: no full-decode archive")
    assert len({line.index("goal") for line in lines}) == 1  # aligned


def load(rate: float, p50: float = 100.0, p99: float = 200.0, failed: int = 0) -> LoadResult:
    return LoadResult("x", 10.0, ok=round(rate * 10), failed=failed, p50_ms=p50, p90_ms=p99, p99_ms=p99, client_cpu=0.0)


def forward(rate: float) -> Ceiling:
    return Ceiling(2, 1, 2, round(rate * 20), 0, 20.0, rate, forward_only=True)


def test_every_ratio_from_the_figures():
    figures = Figures(rounds=[Round(ours=load(26.0), unloaded=load(5, p50=80.0), open=load(18, p99=200.0), stock_tuned=load(20.0),
                                    ceiling=Ceiling(2, 1, 1, 560, 0, 20.0, 28.0), large_ours=load(10, p50=50.0),
                                    large_full=load(3, p50=250.0), forward=forward(40.0), ours_json=load(25.0), litserve=load(20.0),
                                    kserve=load(30.0), kserve_unloaded=load(5, p50=70.0), kserve_open=load(21, p99=280.0),
                                    text_ours=load(90.0), text_litserve=load(60.0), text_forward=forward(100.0),
                                    kserve_json=load(27.0), text_kserve=load(95.0))],
                      stock_default=load(2.5),
                      ceilings=[Ceiling(2, 1, 1, 560, 0, 20.0, 28.0), Ceiling(2, 1, 8, 480, 0, 20.0, 24.0)])
    lines = ratios(figures, workers=2, threads=1, fraction=0.7)
    assert [round(line.value, 3) for line in lines] == [1.3, 1.25, 1.35, 1.5, 1.583, 0.65, 0.75, 0.9, 0.95, 2.5, 4.0,
                                                        round(26 / 28, 3), 10.4, 5.0]
    assert [line.verdict for line in lines] == ["PASS", "MISS", "PASS", "PASS", "PASS", "MISS", "MISS", "PASS", "PASS", "PASS",
                                                "MISS", "PASS", "PASS", "PASS"]
    assert "2 x 1 (best in-process batch: 1)" in lines[11].what and "70%" in lines[9].what and "KServe" in lines[10].what


def test_a_ratio_over_rounds_is_the_median_of_the_per_round_ratios_and_shows_their_range():
    # the machine slows down in round 2: both servers measured in that round are slower alike
    figures = Figures(rounds=[Round(ours=load(30.0), stock_tuned=load(20.0)), Round(ours=load(15.0), stock_tuned=load(12.0)),
                              Round(ours=load(28.0), stock_tuned=load(20.0))])
    line = ratios(figures, 2, 1, 0.7)[0]
    assert line.rounds == (1.5, 1.25, 1.4)
    assert line.value == 1.4 and line.verdict == "PASS"
    assert (line.numerator, line.denominator) == (28.0, 20.0)  # the medians of each figure
    assert line.spread == "[1.25-1.50x, 3 rounds]"
    assert "[1.25-1.50x, 3 rounds]  goal >= 1.3" in ratio_table([line, Ratio("single", 2.0, 1.0, "ms", 3.0)])


def test_a_failed_request_in_any_round_fails_the_line():
    figures = Figures(rounds=[Round(ours=load(30.0), stock_tuned=load(20.0)), Round(ours=load(30.0, failed=1), stock_tuned=load(20.0))])
    assert ratios(figures, 2, 1, 0.7)[0].verdict == "MISS"


def test_what_was_not_measured_is_skipped_with_its_reason():
    figures = Figures(rounds=[Round(ours=load(26.0), unloaded=load(5), open=load(18, failed=2), large_ours=load(10))],
                      errors={"stock_tuned": "no venv", "stock_default": "no venv", "large_full": "no draft key"})
    figures.errors["litserve"] = "--no-litserve"
    verdicts = [(line.verdict, line.missing) for line in ratios(figures, 2, 1, 0.7)]
    assert verdicts == [("SKIPPED", "no venv"), *[("SKIPPED", "--no-litserve")] * 4,
                        *[("SKIPPED", "not measured")] * 4, ("MISS", ""),
                        ("SKIPPED", "not measured"), ("SKIPPED", "in-process ceiling not measured"), ("SKIPPED", "no venv"),
                        ("SKIPPED", "no draft key")]


def test_cpu_model_from_proc_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU @ 2.00GHz\nflags\t: avx2\n")
    assert cpu_model(cpuinfo) == "Example CPU @ 2.00GHz"
