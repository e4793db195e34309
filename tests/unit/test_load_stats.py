"""Percentile math and load-result accounting of the benchmark (figures are printed, never asserted)."""

from __future__ import annotations

import math

import pytest

from markit.ops.load.stats import LoadResult, percentile


@pytest.mark.parametrize(("p", "expected"), [(50, 50), (90, 90), (99, 99), (100, 100), (1, 1), (0.5, 1)])
def test_nearest_rank_percentiles_of_1_to_100(p, expected):
    assert percentile(list(range(100, 0, -1)), p) == expected  # order of the input does not matter


def test_percentiles_of_few_values_are_values_that_occurred():
    values = [10.0, 30.0, 20.0]
    assert percentile(values, 50) == 20.0
    assert percentile(values, 99) == 30.0  # p99 of fewer than 100 values is the maximum, never an interpolation
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("p", [0, -1, 101])
def test_a_percentile_outside_0_100_is_refused(p):
    with pytest.raises(ValueError, match="percentile must be in"):
        percentile([1.0], p)


def test_from_latencies_counts_2xx_as_ok_and_everything_else_as_failed():
    result = LoadResult.from_latencies("test", 2.0, [10.0, 20.0, 30.0, 40.0], {200: 4, 503: 2, 0: 1}, client_cpu=0.25)
    assert (result.ok, result.failed) == (4, 3)
    assert result.throughput == pytest.approx(2.0)
    assert (result.p50_ms, result.p99_ms) == (20.0, 40.0)
    line = result.summary()
    assert "3 failed (1x no answer, 2x 503)" in line and "client CPU 25% of a core" in line


def test_an_open_loop_summary_says_what_was_offered_and_how_many_left_late():
    result = LoadResult.from_latencies("open", 1.0, [5.0], {200: 1}, 0.0, late=3, offered_rate=12.5)
    assert result.summary().startswith("offered 12.5/s;") and "3 sent late" in result.summary()
    assert "failed" not in result.summary()


def test_no_time_means_no_throughput():
    assert LoadResult.from_latencies("none", 0.0, [], {}, 0.0).throughput == 0.0
