"""The benchmark's load generators against a real TorchServe serving the tiny model: requests are
counted and classified correctly (no timings are asserted: figures are printed by the benchmark)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.bodies import Body
from benchmarks.inprocess import ceiling
from benchmarks.sequential import sequential
from benchmarks.servers import BenchServer, bench_server
from benchmarks.sweep import check_tails, grid, recommend, run_sweep
from markit.ops.load.openloop import open_loop
from markit.ops.load.wrk import run_wrk

from helpers import png_bytes

pytestmark = pytest.mark.integration

RED = png_bytes((220, 20, 30))


@pytest.fixture(scope="module")
def tiny_archive(tiny_store: Path) -> Path:
    return next(tiny_store.glob("tiny*.mar"))


@pytest.fixture(scope="module")
def served(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    with bench_server([tiny_archive], tmp_path_factory.mktemp("bench"), load=[tiny_archive.name], ready={"tiny": 1}) as server:
        yield server


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (./scripts/benchmark.sh installs it)")
def test_wrk_counts_answers_and_refusals(served):
    url = served.url("tiny")
    good = run_wrk(url, RED, "image/png", served.token, connections=4, seconds=2)
    assert good.ok > 0 and good.failed == 0 and set(good.statuses) == {200}
    refused = run_wrk(url, RED, "image/png", "not-the-token", connections=2, seconds=1)
    assert refused.ok == 0 and refused.failed > 0 and set(refused.statuses) == {400}  # TorchServe's InvalidKeyException
    wrong = run_wrk(url, b"not an image", "image/png", served.token, connections=2, seconds=1)
    assert wrong.ok == 0 and set(wrong.statuses) == {415}


def test_open_loop_sends_every_scheduled_request_and_counts_each_answer(served):
    result = open_loop(served.url("tiny"), RED, "image/png", served.token, rate=20, seconds=2)
    assert (result.ok, result.failed) == (40, 0) and result.statuses == {200: 40}
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms
    bad = open_loop(served.url("nope"), RED, "image/png", served.token, rate=10, seconds=1)
    assert (bad.ok, bad.failed) == (0, 10) and bad.statuses == {404: 10}


def test_sequential_requests_and_the_in_process_ceiling_answer_every_request(served, tiny_archive):
    unloaded = sequential(served.url("tiny"), RED, "image/png", served.token, count=5)
    assert (unloaded.ok, unloaded.failed) == (5, 0)
    inside = ceiling(tiny_archive, RED, "image/png", processes=1, threads=1, batch_size=2, seconds=1.0, warmup=0.2)
    assert inside.images > 0 and inside.images % 2 == 0 and inside.failed == 0 and inside.rate > 0
    refused = ceiling(tiny_archive, b"not an image", "image/png", processes=1, threads=1, batch_size=1, seconds=0.5, warmup=0.1)
    assert refused.images == 0 and refused.failed > 0


def worker_environments(server: BenchServer) -> list[dict[str, str]]:
    """The environment of every Python worker in the server's process group (from /proc)."""
    group, found = server.process.process.pid, []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and b"model_service_worker" in command:
            pairs = (entry / "environ").read_bytes().split(b"\0")
            found.append(dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair))
    return found


def test_workers_start_on_huge_pages_unless_the_environment_says_otherwise(served, tiny_archive, tmp_path):
    assert [env.get("THP_MEM_ALLOC_ENABLE") for env in worker_environments(served)] == ["1"]
    with bench_server([tiny_archive], tmp_path, load=[tiny_archive.name], ready={"tiny": 1},
                      env={"THP_MEM_ALLOC_ENABLE": "0"}) as server:
        assert [env.get("THP_MEM_ALLOC_ENABLE") for env in worker_environments(server)] == ["0"]


def test_the_sweep_measures_each_setting_then_the_tails_of_the_fastest(tiny_archive):
    body = Body(RED, "image/png", "red PNG")
    settings = grid([1], [1], [1, 2], [5], cores=1, connections=2)
    measured = run_sweep(tiny_archive, body, settings, connections=2, seconds=1.0, warmup=0.5, progress=lambda _: None)
    assert [m.setting for m in measured] == settings and all(m.result.ok > 0 and m.result.failed == 0 for m in measured)
    # the tiny model answers hundreds a second: 70 % of that would test the frontend of a busy CI machine, not the mechanics
    checked = check_tails(tiny_archive, body, measured, seconds=1.0, unloaded_requests=5, fraction=0.2, progress=lambda _: None)
    assert [m.setting for m in checked] == settings
    for m in checked:
        assert m.tail is not None and m.tail.unloaded.ok == 5 and m.tail.open.ok > 0 and m.tail.open.failed == 0
    assert recommend(checked).setting in settings


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (./scripts/benchmark.sh installs it)")
def test_the_engines_benchmark_loads_both_engines_with_the_same_requests_and_prints_them_side_by_side(tiny_archive):
    from benchmarks.engines import EngineOptions, measure_engines, render_engines

    options = EngineOptions(body=Body(RED, "image/png", "a red PNG"), connections=2, seconds=1, warmup=1, rounds=1,
                            unloaded_requests=3, processes=(1, 2))
    runs = measure_engines(tiny_archive, options, progress=lambda _: None)
    for engine in options.engines:
        [closed] = runs.closed[engine]
        assert closed.ok > 0 and closed.failed == 0, engine
        assert runs.unloaded[engine][0].ok == 3
    report = render_engines(tiny_archive, options, runs, "the test's tiny archive")
    assert "KServe runtime, 2 processes / TorchServe, closed-loop throughput" in report
