"""markit capacity's model: the fitted line, each setting's capacity, the simulated p99 and the choice, on synthetic costs."""

from __future__ import annotations

import pytest

from markit.ops.fit.costs import Costs, Line, Timing, fit_line
from markit.ops.fit.model import (
    Engine,
    NoSettingMeets,
    Prediction,
    candidates,
    choose,
    predict_capacity,
    predict_tail,
)
from markit.ops.fit.setting import Setting
from markit.ops.fit.simulate import simulate

MS = 0.001
FREE = Engine("free", request_cpu=0.0, handoff=0.0, latency=0.0, batching="torchserve")  # serving adds nothing


def costs(fixed_ms: float, per_item_ms: float, sizes=(1, 2, 4, 8), threads: int = 1, **kwargs) -> Costs:
    """Batches that take exactly ``fixed + per_item x b`` (no spread: the simulation is deterministic)."""
    return Costs(tuple(Timing(threads, b, ((fixed_ms + per_item_ms * b) * MS,) * 5) for b in sizes), **kwargs)


def setting(workers=1, batch=1, delay=1, threads=1) -> Setting:
    return Setting(threads=threads, batch_size=batch, max_batch_delay=delay, workers=workers)


def test_the_line_through_exact_costs_is_found_with_no_residual():
    line = fit_line([(1, 0.012), (2, 0.017), (4, 0.027), (8, 0.047)])
    assert (line.fixed, line.per_item) == (pytest.approx(0.007), pytest.approx(0.005))
    assert line.residual == pytest.approx(0.0, abs=1e-9)
    assert "7.00 ms + 5.00 ms x b" in line.describe()


def test_a_negative_fixed_cost_is_refitted_through_the_origin_and_a_negative_slope_flat():
    through_origin = fit_line([(1, 0.0100), (2, 0.0215), (4, 0.0440)])  # least squares would give fixed < 0
    assert through_origin.fixed == 0.0 and through_origin.per_item == pytest.approx(0.0110, rel=0.01)
    assert through_origin.residual > 0
    flat = fit_line([(1, 0.012), (4, 0.011)])
    assert (flat.fixed, flat.per_item) == (pytest.approx(0.0115), 0.0)
    assert fit_line([(4, 0.040)]) == Line(0.0, pytest.approx(0.010), pytest.approx(0.0))  # one size: no fixed part known


def test_crowding_is_measured_at_the_side_by_side_count_and_interpolated_below():
    measured = costs(0, 10, side_by_side=1.3, side_by_side_count=4)
    assert [measured.crowding(n) for n in (1, 2, 4, 8)] == pytest.approx([1.0, 1.1, 1.3, 1.3])
    assert costs(0, 10).crowding(2) == 1.0  # not measured: none assumed


def test_candidates_fit_the_cores_the_connections_and_the_batch_sizes_measured():
    two_counts = Costs(costs(1, 10).timings + costs(1, 6, sizes=(1, 4), threads=2).timings)
    found = candidates(two_counts, cores=2, connections=8, delays=[5, 1])
    assert {(s.workers, s.threads) for s in found} == {(1, 1), (2, 1), (1, 2)}  # 2 x 2 oversubscribes two cores
    assert max(s.batch_size for s in found if s.workers == 2) == 4  # two batches of 4 fill 8 connections
    assert max(s.batch_size for s in found if s.threads == 2) == 4  # not beyond the largest measured at 2 threads
    assert {s.max_batch_delay for s in found if s.batch_size == 1} == {1}  # nothing to wait for
    assert {s.max_batch_delay for s in found if s.batch_size == 3} == {1, 5}


def test_capacity_is_the_workers_limit_or_the_cores_limit_whichever_is_lower():
    measured = costs(0, 10)
    engine = Engine("e", request_cpu=1 * MS, handoff=0.0, latency=0.0, batching="kserve")
    one = predict_capacity(setting(workers=1), measured, engine, cores=2)
    assert (one.capacity, one.bound) == (pytest.approx(100.0), "workers")  # one worker: 1 / 10 ms
    two = predict_capacity(setting(workers=2), measured, engine, cores=2)
    assert (two.capacity, two.bound) == (pytest.approx(2 / 0.011), "cores")  # the engine's 1 ms takes from the workers
    handing = predict_capacity(setting(workers=1), measured, Engine("e", 0.0, 2 * MS, 0.0, "kserve"), cores=2)
    assert handing.capacity == pytest.approx(1 / 0.012)


def test_batches_raise_capacity_when_a_batch_has_a_fixed_cost():
    measured = costs(10, 10)
    assert [predict_capacity(setting(batch=b), measured, FREE, cores=1).capacity for b in (1, 2, 4, 8)] == \
        pytest.approx([50.0, 2 / 0.03, 4 / 0.05, 8 / 0.09])


def test_unloaded_torchserve_waits_the_delay_for_a_second_request_and_the_kserve_runtime_does_not():
    service = lambda size, running: (5 + 10 * size) * MS  # noqa: E731
    alone = setting(workers=2, batch=4, delay=20)
    for batching, expected in (("torchserve", 20 + 15 + 3), ("kserve", 15 + 3)):
        result = simulate(alone, service, rate=5.0, requests=50, batching=batching, overhead_latency=3 * MS)
        assert result.p99 == pytest.approx(expected * MS)
        assert result.mean_batch == 1.0


def test_under_load_torchserve_fills_one_workers_batch_before_the_next_worker_takes_any():
    service = lambda size, running: (5 + 10 * size) * MS  # noqa: E731
    busy = simulate(setting(workers=2, batch=4, delay=20), service, rate=150.0, requests=3000, batching="torchserve")
    assert busy.mean_batch > 3.5  # 150/s arrive 6.7 ms apart: within 20 ms the lock holder has its 4
    light = simulate(setting(workers=2, batch=4, delay=1), service, rate=40.0, requests=1000, batching="torchserve")
    assert light.mean_batch == 1.0 and light.p99 == pytest.approx(16 * MS)


def test_the_simulation_is_the_same_every_time_for_the_same_setting():
    measured = Costs((Timing(1, 1, (0.010, 0.011, 0.030)), Timing(1, 4, (0.040, 0.041, 0.090))))
    prediction = predict_capacity(setting(workers=1, batch=4, delay=5), measured, FREE, cores=1)
    first, second = (predict_tail(prediction, measured, FREE, cores=1, load=0.7) for _ in range(2))
    assert first.tail == second.tail
    assert first.tail.p99 > first.tail.p50  # the spread of measured times reaches the tail


def tails(measured: Costs, cores: int = 1):
    return lambda p: predict_tail(p, measured, FREE, cores=cores, load=0.7)


def all_predictions(measured: Costs, cores: int = 1) -> list[Prediction]:
    return [predict_capacity(s, measured, FREE, cores) for s in candidates(measured, cores=cores, connections=8, delays=[1, 5, 20])]


def test_a_loose_target_takes_the_largest_batch_and_a_tight_one_forces_a_smaller_batch():
    measured = costs(10, 10)  # batch 8: 89/s but 90 ms a batch; batch 2: 67/s
    loose, _ = choose(all_predictions(measured), 0.200, tails(measured))
    assert loose.setting.batch_size == 8 and loose.capacity == pytest.approx(8 / 0.09)
    tight, considered = choose(all_predictions(measured), 0.030, tails(measured))
    assert tight.setting.batch_size < 8 and tight.p99 <= 0.030
    assert any(p.setting.batch_size == 8 and p.p99 > 0.030 for p in considered)  # it was simulated and missed
    assert tight.capacity < loose.capacity


def test_within_a_tie_the_lower_p99_wins():
    measured = costs(0, 10)  # no fixed cost: every batch size has the same capacity
    chosen, considered = choose(all_predictions(measured), 0.200, tails(measured))
    assert all(p.capacity == pytest.approx(chosen.capacity) for p in considered)
    assert chosen.p99 == min(p.p99 for p in considered)
    assert chosen.setting.max_batch_delay == 1  # a 20 ms delay makes every answer wait


def test_a_target_no_setting_meets_names_the_lowest_p99_and_what_to_relax():
    measured = costs(10, 10)
    with pytest.raises(NoSettingMeets, match=r"--p99 5: .*the lowest predicted is 20\.0 ms \(1 x 1 thread\(s\), batch 1.*relax --p99 "
                                             r"to at least 20"):
        choose(all_predictions(measured), 0.005, tails(measured))


def test_threads_waiting_for_the_gil_slow_the_workers_but_leave_the_cores_free():
    engine = Engine("e", request_cpu=1 * MS, handoff=0.0, latency=0.0, batching="kserve")
    gil = costs(0, 10, side_by_side=2.0, side_by_side_count=2, side_by_side_mode="threads")
    held = predict_capacity(setting(workers=2), gil, engine, cores=2)
    assert (held.capacity, held.bound) == (pytest.approx(100.0), "workers")  # two workers, one at a time: one worker's rate
    memory = costs(0, 10, side_by_side=2.0, side_by_side_count=2, side_by_side_mode="processes")
    stalled = predict_capacity(setting(workers=2), memory, engine, cores=2)
    assert (stalled.capacity, stalled.bound) == (pytest.approx(2 / 0.021), "cores")  # stalls on memory burn the cores


def test_the_engines_tail_raises_the_simulated_p99_and_nothing_else():
    measured = costs(10, 10)
    prediction = predict_capacity(setting(batch=2), measured, FREE, cores=1)
    plain = predict_tail(prediction, measured, FREE, cores=1, load=0.7).tail
    noisy = predict_tail(prediction, measured, Engine("free", 0.0, 0.0, 0.0, "torchserve", tail=1.5), cores=1, load=0.7).tail
    assert (noisy.p99, noisy.p50, noisy.mean_batch) == (pytest.approx(1.5 * plain.p99), plain.p50, plain.mean_batch)
