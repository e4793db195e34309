"""The engine-free core: ``BatchCore.answer`` turns a batch of ``exchange.Request`` into one ``Response``
each, with its own status, in the protocol it came in, without TorchServe (a regression handler over a tiny
model: no build, no server). TorchServe's adapter is tested through TorchServe's own Service in tests/build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from markit.core.batch import BatchCore
from markit.core.exchange import Request, Served
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.regression.handler import Regressor

from helpers import Counted, RowSum, complete_spec

SPEC = complete_spec({"name": "forecast", "version": "1.0", "task": "regression",
        "features": [{"name": "x", "shape": [], "unit": "m"}, {"name": "y", "shape": [], "unit": "m"}],
        "outputs": [{"name": "sum", "unit": "m"}],
        "guards": [{"feature": "x", "max": 100, "policy": "flag"}],
        "budgets": {"request_bytes": 1 << 20, "rows": 8}})


@pytest.fixture
def handler(tmp_path: Path) -> BatchCore:
    manifest = {"spec": SPEC, "identity": "sha256:test", "files": {}}
    return BatchCore(Regressor(UnpackedArchive(directory=tmp_path, manifest=manifest), LoadedModel(forward=RowSum())))


def json_request(value, request_id: str = "r") -> Request:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return Request(Payload({"body": raw}, {"body": "application/json"}), request_id)


def test_a_mixed_batch_gets_one_response_per_request_each_with_its_status(handler):
    nested = b"[" * 5000 + b"]" * 5000  # deeper than Python's JSON decoder goes
    requests = [json_request({"x": 1, "y": 2}), json_request({"x": 1}), json_request(nested),
                json_request({"instances": [{"x": 3, "y": 4}, {"x": 5, "y": 6}]}),
                json_request({"id": "v2-id", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [7]},
                                                        {"name": "y", "shape": [1], "datatype": "FP32", "data": [8]}]})]
    plain, missing, deep, v1, v2 = handler.answer(requests, Served("served-name", "2"))
    assert plain.status == 200 and plain.body["prediction"] == {"sum": 3.0}
    assert (missing.status, missing.phrase) == (400, "Bad Request") and "y: missing feature" in missing.body["message"]
    assert deep.status == 400 and "nested more than 32 levels deep, the limit" in deep.body["message"]  # alone
    assert v1.status == 200 and [p["prediction"] for p in v1.body["predictions"]] == [{"sum": 7.0}, {"sum": 11.0}]
    assert v2.status == 200 and (v2.body["model_name"], v2.body["model_version"], v2.body["id"]) == ("served-name", "2", "v2-id")
    assert json.loads(v2.body["outputs"][0]["data"][0])["prediction"] == {"sum": 15.0}


def test_a_kserve_error_has_kserves_error_key_and_the_engines_request_id_is_the_default(handler):
    bad, good = handler.answer([json_request({"instances": [{"x": 1}]}), json_request(
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]},
                    {"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]}, request_id="engine-id")])
    assert bad.status == 400 and bad.body["error"] == bad.body["message"] and bad.body["message"].startswith("instances[0]: ")
    assert good.body["id"] == "engine-id" and good.body["model_name"] == "forecast"  # the archive's name by default


def test_the_handlers_events_reach_the_engines_metrics(handler):
    metrics = Counted()
    [response] = handler.answer([json_request({"x": 101, "y": 0})], metrics=metrics)
    assert response.body["warnings"] and metrics.counted == [("GuardHits", {"Feature": "x", "Policy": "flag"})]


def test_a_model_crash_fails_its_batch_with_500_and_the_next_batch_is_answered(handler):
    handler.task.model = lambda rows: (_ for _ in ()).throw(RuntimeError("boom"))
    assert [r.status for r in handler.answer([json_request({"x": 1, "y": 1})] * 2)] == [500, 500]
    handler.task.model = RowSum()
    [after] = handler.answer([json_request({"x": 1, "y": 1})])
    assert after.status == 200 and after.body["prediction"] == {"sum": 2.0}
