"""What the benchmark needs of a private TorchServe: another venv's torchserve, variables unset."""

from __future__ import annotations

import stat
from types import SimpleNamespace

import pytest

from benchmarks.servers import BASE_CONFIG, BenchServer, FrontendCounters, parse_counters
from harness import TorchServeProcess
from harness.torchserve import ServerError
from markit.client.client import Reply


def test_another_torchserve_runs_with_unset_and_added_variables(tmp_path, monkeypatch):
    fake = tmp_path / "venv" / "bin" / "torchserve"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "$@" > args\nenv > env\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("KEEP_ME", "yes")
    monkeypatch.delenv("THP_MEM_ALLOC_ENABLE", raising=False)
    (tmp_path / "store").mkdir()
    server = TorchServeProcess(BASE_CONFIG, tmp_path / "store", tmp_path / "ts", torchserve=fake,
                               env={"OMP_NUM_THREADS": None, "ARCHIVE_TORCH_THREADS": "2"})
    server.start()
    try:
        server.process.wait(timeout=30)
    finally:
        server.stop()
    work = tmp_path / "ts" / "work"
    assert (work / "args").read_text().split()[:3] == ["--start", "--ncs", "--foreground"]
    env = dict(line.split("=", 1) for line in (work / "env").read_text().splitlines() if "=" in line)
    assert "OMP_NUM_THREADS" not in env
    assert env["ARCHIVE_TORCH_THREADS"] == "2" and env["KEEP_ME"] == "yes"
    assert env["TMPDIR"] == str(tmp_path / "ts" / "tmp")
    assert env["THP_MEM_ALLOC_ENABLE"] == "1"  # the workers' environment default, as served archives get it


def server_answering(*statuses: tuple[int, object]) -> tuple[BenchServer, list[str]]:
    calls: list[str] = []
    replies = iter(Reply(status, body, {}) for status, body in statuses)

    def unregister(model: str) -> Reply:
        calls.append(model)
        return next(replies)

    return BenchServer(SimpleNamespace(client=SimpleNamespace(unregister=unregister))), calls


def test_unregistering_tries_again_after_torchserves_concurrent_modification_error(monkeypatch):
    monkeypatch.setattr("benchmarks.servers.time.sleep", lambda _: None)
    race = (500, {"code": 500, "type": "ConcurrentModificationException"})
    server, calls = server_answering(race, race, (200, {"status": "unregistered"}))
    server.unregister("m")
    assert calls == ["m", "m", "m"]
    server, calls = server_answering((404, {"message": "Model not found: m"}))
    with pytest.raises(ServerError, match="404"):
        server.unregister("m")
    assert calls == ["m"]  # other refusals are not retried
    server, calls = server_answering(*[race] * 5)
    with pytest.raises(ServerError, match="ConcurrentModification"):
        server.unregister("m")
    assert len(calls) == 5



METRICS = """# HELP ts_inference_latency_microseconds Cumulative inference duration in microseconds
# TYPE ts_inference_latency_microseconds counter
ts_inference_latency_microseconds{model_name="tiny",model_version="default",hostname="vm",} 6193132.000000003
ts_inference_latency_microseconds{model_name="other",model_version="default",hostname="vm",} 99.0
ts_queue_latency_microseconds{model_name="tiny",model_version="default",hostname="vm",} 920806.3629999992
ts_inference_requests_total{model_name="tiny",model_version="default",hostname="vm",} 368.0
QueueTime{Level="Host",Hostname="vm",} 0.0
"""


def test_frontend_counters_of_one_model_and_their_difference_over_a_window():
    before = parse_counters(METRICS, "tiny")
    assert before == FrontendCounters(368.0, 6193132.000000003, 920806.3629999992)
    assert parse_counters(METRICS, "absent") == FrontendCounters()
    window = FrontendCounters(468.0, 8193132.0, 1020806.0) - before
    assert window.requests == 100 and window.summary() == (
        "mean per request 20 ms in the server: 1 ms queued for a worker, 19 ms from the batch leaving the queue to the answer")
    assert FrontendCounters().summary() == "no requests counted"
