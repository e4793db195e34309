"""The sweep's grid pruning, its choice of settings and the serving: section it prints."""

from __future__ import annotations

import dataclasses
import zipfile

import pytest
import yaml

from benchmarks import sweep
from benchmarks.sweep import Measured, Setting, Tail, candidates, grid, honours_thread_override, recommend, serving_section, table
from markit.ops.load.cpu import CpuShare
from markit.ops.load.stats import LoadResult


def test_the_default_grid_on_two_cores():
    settings = grid([1, 2], [1, 2], [1, 2, 4, 8], [1, 5, 20], cores=2, connections=8)
    pairs = {(s.workers, s.threads) for s in settings}
    assert pairs == {(1, 1), (2, 1), (1, 2)}  # 2 x 2 oversubscribes two cores
    batching = {(s.batch_size, s.max_batch_delay) for s in settings}
    assert batching == {(1, 1)} | {(b, d) for b in (2, 4, 8) for d in (1, 5, 20)}  # no delay variants for batch 1
    assert len(settings) == 3 * 10
    assert settings == sorted(settings) and settings[0].threads == 1 and settings[-1].threads == 2  # one server per thread count


def test_batches_larger_than_the_requests_in_flight_are_not_measured():
    settings = grid([1], [1], [1, 4, 16], [5], cores=4, connections=8)
    assert [(s.batch_size, s.max_batch_delay) for s in settings] == [(1, 1), (4, 5)]


def test_batch_1_is_measured_once_with_the_shortest_delay_a_spec_takes():
    assert [(s.batch_size, s.max_batch_delay) for s in grid([1], [1], [1], [20, 5], cores=1, connections=8)] == [(1, 1)]


def test_nothing_fits_when_every_combination_oversubscribes():
    assert grid([4], [2], [1], [0], cores=2, connections=8) == []


def measured(workers: int, batch: int, rate: float, p99: float, failed: int = 0) -> Measured:
    result = LoadResult("wrk", 10.0, ok=round(rate * 10), failed=failed, p50_ms=p99 / 2, p90_ms=p99, p99_ms=p99, client_cpu=0.0)
    return Measured(Setting(threads=1, batch_size=batch, max_batch_delay=1, workers=workers), result)


def test_the_highest_throughput_wins():
    runs = [measured(1, 1, 12.0, 300), measured(2, 1, 24.0, 500), measured(2, 8, 18.0, 900)]
    assert recommend(runs) is runs[1]


def test_a_tie_within_3_percent_goes_to_the_lower_p99():
    runs = [measured(2, 1, 24.0, 500), measured(2, 2, 23.5, 350), measured(2, 4, 22.0, 200)]
    assert recommend(runs) is runs[1]  # 22.0 is 8 % below the best: not a tie


def with_tail(m: Measured, unloaded_p50: float, open_p99: float, failed: int = 0) -> Measured:
    unloaded = LoadResult("sequential", 1.0, ok=40, failed=0, p50_ms=unloaded_p50, p90_ms=unloaded_p50, p99_ms=unloaded_p50,
                          client_cpu=0.0)
    opened = LoadResult("open loop", 10.0, ok=100, failed=failed, p50_ms=unloaded_p50, p90_ms=open_p99, p99_ms=open_p99,
                        client_cpu=0.0)
    return dataclasses.replace(m, tail=Tail(unloaded, opened))


def test_only_settings_within_10_percent_of_the_best_get_a_tail_check():
    runs = [measured(2, 8, 70.0, 300), measured(2, 4, 65.0, 200), measured(2, 1, 60.0, 150), measured(2, 2, 80.0, 100, failed=1)]
    assert candidates(runs) == runs[:2]  # 60 is 14 % below 70; the failing one is out


def test_with_tails_the_fastest_setting_whose_tail_meets_the_goal_wins():
    batch8 = with_tail(measured(2, 8, 70.0, 300), unloaded_p50=28, open_p99=194)  # 6.9x: batches of 8 at 70 % load
    batch4 = with_tail(measured(2, 4, 65.0, 200), unloaded_p50=23, open_p99=57)  # 2.5x
    waiting = with_tail(measured(2, 2, 64.0, 200), unloaded_p50=43, open_p99=90)  # 2.1x only because a 20 ms delay slows every answer
    slower = with_tail(measured(2, 2, 60.0, 200), unloaded_p50=25, open_p99=40)  # 6 % below batch 4: not a tie
    assert recommend([batch8, batch4, waiting, slower]) is batch4  # within 3 %: the lower open-loop p99, not the lower ratio
    assert "6.93 > 3" in sweep.tail_table([batch8, batch4], batch4) and "<- recommended" in sweep.tail_table([batch8, batch4], batch4)


def test_when_no_tail_meets_the_goal_the_lowest_open_loop_p99_wins_and_a_failed_open_loop_never_does():
    slow = with_tail(measured(2, 8, 70.0, 300), unloaded_p50=20, open_p99=100)  # 5x
    slower = with_tail(measured(2, 4, 65.0, 200), unloaded_p50=20, open_p99=80)  # 4x
    broken = with_tail(measured(2, 2, 66.0, 200), unloaded_p50=20, open_p99=30, failed=3)
    assert recommend([slow, slower, broken]) is slower  # the lowest open-loop p99 of those that answered everything


def test_a_setting_with_failures_is_not_recommended():
    runs = [measured(2, 1, 30.0, 100, failed=5), measured(1, 1, 20.0, 400)]
    assert recommend(runs) is runs[1]
    with pytest.raises(ValueError, match="nothing was measured"):
        recommend([])


def test_the_serving_section_is_the_spec_s_yaml():
    text = serving_section(Setting(threads=1, batch_size=2, max_batch_delay=5, workers=2), response_timeout=60)
    assert yaml.safe_load(text) == {"serving": {"workers": 2, "torch_threads": 1, "batch_size": 2, "max_batch_delay": 5,
                                                "response_timeout": 60}}


def test_the_table_has_a_row_per_setting_marks_the_choice_and_stars_disturbed_runs():
    quiet = measured(1, 1, 12.04, 300)
    quiet = Measured(quiet.setting, dataclasses.replace(quiet.result, cores=CpuShare(server=1.02, client=0.01, others=0.0)))
    busy = measured(2, 1, 24.0, 512)
    busy = Measured(busy.setting, dataclasses.replace(busy.result, cores=CpuShare(server=1.5, client=0.01, others=0.4)))
    lines = table([quiet, busy], busy).splitlines()
    assert lines[0].split() == ["workers", "threads", "batch", "delay", "ms", "images/s", "p50", "ms", "p99", "ms", "failed",
                                "server", "cores", "other", "cores"]
    assert lines[1].split() == ["1", "1", "1", "1", "12.0", "150", "300", "0", "1.02", "0.00"]
    assert lines[2].split() == ["2", "1", "1", "1", "24.0", "256", "512", "0", "1.50", "0.40*", "<-", "recommended"]
    assert lines[3].startswith("  * other processes kept more than 0.25 cores busy")
    assert len(table([quiet]).splitlines()) == 2  # no footnote without a disturbed run


def test_whether_an_archive_reads_the_thread_override(tmp_path):
    reads, ignores = tmp_path / "reads.mar", tmp_path / "ignores.mar"
    with zipfile.ZipFile(reads, "w") as mar:
        mar.writestr("runtime/core/service.py", 'THREADS_ENV = "ARCHIVE_TORCH_THREADS"\n')
    with zipfile.ZipFile(ignores, "w") as mar:
        mar.writestr("runtime/core/service.py", "torch.set_num_threads(1)\n")
        mar.writestr("README.txt", "ARCHIVE_TORCH_THREADS is not code here")
    assert honours_thread_override(reads) and not honours_thread_override(ignores)
