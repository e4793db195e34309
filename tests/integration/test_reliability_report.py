"""The reliability report's parts (benchmarks/reliability.py) against the real TorchServe serving every example:
each of the bad-input matrix's probes, sent inside a batch with good requests, gets a clear 4xx; no good
batch-mate is harmed, no worker restarts; a short soak loses no good request; a long text costs what a
short one does."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reliability import measure_cost, measure_huge, run_matrix, run_soak, run_tamper, targets_in

pytestmark = pytest.mark.integration

MODELS = ("efficientnet_lite0", "digits", "minilm_embeddings", "minilm_topics", "weather_seattle")


@pytest.fixture(scope="module")
def targets(store: Path):
    return targets_in([store / f"{name}.mar" for name in MODELS])


def test_every_probe_is_a_clear_4xx_and_harms_no_batch_mate(server, targets):
    result = run_matrix(server.client, targets, server.log_text)
    assert result.probes >= 150 and len(result.kinds) >= 60
    assert (result.server_errors, result.unclear, result.harmed) == ([], [], [])
    assert result.clear == result.probes
    assert result.mixed_batches > 0  # refused and answered requests did share batches
    assert result.restarts == 0


def test_a_short_soak_loses_no_good_request(server, targets):
    result = run_soak(server.client, targets, seconds=8, clients=3, bad_share=0.3)
    assert result.good > 20 and result.bad > 5
    assert result.good_failed == [] and result.restarts == 0
    assert all(400 <= status < 500 for status in result.bad_statuses)


def test_a_long_text_is_truncated_cheaply_and_a_10_mb_one_refused(server):
    lines = measure_cost(server.client, "minilm_embeddings", 1_000_000, repeats=1)
    assert "a 256-token text" in lines[1] and "HTTP 200 x1" in lines[1]
    assert "1,000,000-character text" in lines[2] and "HTTP 200 x1" in lines[2]
    assert "a 10 MB text" in lines[3] and "HTTP 413 x1" in lines[3]
    assert "the 256-token text again" in lines[4] and "HTTP 200 x1" in lines[4]


def test_every_tampered_copy_is_refused_by_both_engines_and_the_signed_original_serves(store, tmp_path):
    lines, misses = run_tamper(store / "efficientnet_lite0.mar", tmp_path)
    assert misses == 0
    assert lines[0] == ("tampered archives given to scripts/serve.sh start and scripts/serve_kserve.sh: 44 of 44 refused "
                        "before anything served, naming the entry; injected code ran 0 times"), "\n".join(lines)
    assert all(": serve.sh exit 2, serve_kserve.sh exit 2: " in line for line in lines[1:-1])
    assert lines[-1].endswith("started, every model READY")


@pytest.mark.parametrize("engine", ["server", "kserve_runtime"])
def test_a_request_of_a_hundred_thousand_tensors_is_a_prompt_413_on_both_engines(request, targets, engine):
    client = request.getfixturevalue(engine).client
    lines, misses = measure_huge(client, targets[0])
    assert misses == 0, "\n".join(lines)
    assert "100,000 tensors (6.9 MB): HTTP 413 in " in lines[2] and "limit of 1024 per request" in lines[2]
    assert lines[3].startswith("  then its golden input: HTTP 200")
