"""The KServe runtime's REST app without a server (Starlette's TestClient): a version other than the served one is
a 404, ``/metrics`` asks for the token unless opened, a model still loading is a 503 with a JSON body and one log
line, not a traceback; every refusal has the OIP error shape; TorchServe's PUT and /ping are answered; REST and
gRPC (the servicer, called directly) agree on versions and readiness."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from grpc import StatusCode
from kserve.model_repository import ModelRepository
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from starlette.testclient import TestClient

from markit.engines.kserve.metrics import ServerMetrics
from markit.engines.kserve.model import ArchiveModel, BoundedServicer, Refused
from markit.engines.kserve.server import Options, StoreDataPlane, _rest_app

TOKEN = "secret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def app_of(tmp_path: Path, *, loaded: bool, open_metrics: bool = False) -> tuple[TestClient, ArchiveModel]:
    """The runtime's REST app over one model 'tiny', loaded (version 1.0; no handler: nothing gets that far) or loading."""
    metrics = ServerMetrics()
    model = ArchiveModel("tiny", metrics, "1.0")
    if loaded:
        model.archive = SimpleNamespace(info=SimpleNamespace(version="1.0"))
    registry = ModelRepository()
    registry.update(model)
    options = Options(model_store=tmp_path, key_file=tmp_path / "key_file.json", open_metrics=open_metrics)
    app = _rest_app(StoreDataPlane(model_registry=registry), ModelRepositoryExtension(model_registry=registry),
                    {"tiny": model}, metrics, TOKEN, options)
    return TestClient(app, raise_server_exceptions=False), model


def servicer_of(model: ArchiveModel) -> BoundedServicer:
    registry = ModelRepository()
    registry.update(model)
    return BoundedServicer(StoreDataPlane(model_registry=registry), ModelRepositoryExtension(model_registry=registry))


@pytest.mark.parametrize("path", ["/predictions/tiny/9.9", "/predictions/tiny/%2e%2e", "/v2/models/tiny/versions/9.9/infer",
                                  "/v2/models/tiny/versions/1.0.0/infer"])
def test_a_version_other_than_the_served_one_is_a_404_naming_both(tmp_path, path):
    client, _ = app_of(tmp_path, loaded=True)
    reply = client.post(path, content=b"{}", headers={**AUTH, "Content-Type": "application/json"})
    assert reply.status_code == 404
    body = reply.json()
    assert body["type"] == "ModelVersionNotFound"
    assert "does not exist for model: tiny (this server serves version 1.0" in body["message"]
    assert body["error"] == body["message"]  # the OIP error shape, on TorchServe's routes too


def test_a_grpc_request_naming_another_version_is_refused_not_found(tmp_path):
    _, model = app_of(tmp_path, loaded=True)
    request = InferRequest("tiny", [InferInput("x", [1], "FP32", [1.0])], model_version="9.9")
    with pytest.raises(Refused) as refused:
        asyncio.run(model.predict(request))
    assert refused.value.status == 404 and refused.value.status_code == StatusCode.NOT_FOUND
    assert "Model version: 9.9 does not exist for model: tiny" in refused.value.details


@pytest.mark.parametrize(("open_metrics", "headers", "status"), [(False, {}, 401), (False, AUTH, 200), (True, {}, 200)])
def test_metrics_ask_for_the_token_unless_opened(tmp_path, open_metrics, headers, status):
    client, _ = app_of(tmp_path, loaded=True, open_metrics=open_metrics)
    reply = client.get("/metrics", headers=headers)
    assert reply.status_code == status
    if status == 200:
        assert "markit_requests_total" in reply.text or "python_info" in reply.text


def test_readiness_while_loading_is_a_503_json_and_one_log_line_without_a_traceback(tmp_path, caplog):
    client, _ = app_of(tmp_path, loaded=False)
    with caplog.at_level(logging.INFO):
        replies = [client.get("/v2/health/ready") for _ in range(3)]
    assert [reply.status_code for reply in replies] == [503] * 3
    assert replies[0].json()["message"] == "Server is not ready: not every model of the store is loaded yet"
    lines = [record for record in caplog.records if record.name.startswith("markit") or record.name.startswith("kserve")]
    assert len(lines) == 3 and not any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize("path", ["/v2/models/tiny", "/v2/models/tiny/ready", "/v1/models/tiny"])
def test_model_metadata_and_readiness_while_loading_are_503_with_a_json_body(tmp_path, caplog, path):
    client, _ = app_of(tmp_path, loaded=False)
    with caplog.at_level(logging.INFO):
        reply = client.get(path, headers=AUTH)
    assert reply.status_code == 503, reply.text
    body = reply.json()
    assert body["code"] == 503 and "tiny" in body["message"] and "Refused" not in body["message"]
    assert not any(record.exc_info for record in caplog.records)


def test_an_unknown_model_is_a_404_with_a_json_body_and_no_traceback(tmp_path, caplog):
    client, _ = app_of(tmp_path, loaded=True)
    with caplog.at_level(logging.INFO):
        reply = client.get("/v2/models/nope", headers=AUTH)
    assert reply.status_code == 404 and reply.json()["message"] == "model 'nope' is not served here; GET /v2/models lists the models"
    assert not any(record.exc_info for record in caplog.records)


def served(tmp_path: Path) -> tuple[TestClient, ArchiveModel]:
    """``app_of`` with a handler that declares its v2 tensors, so metadata can be answered."""
    client, model = app_of(tmp_path, loaded=True)
    tensors = SimpleNamespace(v2_inputs=lambda: [{"name": "image", "datatype": "BYTES", "shape": [-1]}],
                              v2_outputs=lambda: [{"name": "answer", "datatype": "BYTES", "shape": [-1]}])
    model.archive = SimpleNamespace(info=SimpleNamespace(version="1.0"), opened=SimpleNamespace(batch_core=tensors))
    model.ready = True
    return client, model


def served_app(tmp_path: Path) -> TestClient:
    return served(tmp_path)[0]


@pytest.mark.parametrize("suffix", ["", "/ready"])
def test_versioned_metadata_answers_for_the_served_version_and_404_for_another(tmp_path, suffix):
    client = served_app(tmp_path)
    unversioned = client.get(f"/v2/models/tiny{suffix}", headers=AUTH)
    served = client.get(f"/v2/models/tiny/versions/1.0{suffix}", headers=AUTH)
    other = client.get(f"/v2/models/tiny/versions/9.9{suffix}", headers=AUTH)
    assert unversioned.status_code == served.status_code == 200 and served.json() == unversioned.json()
    assert other.status_code == 404 and other.json()["message"].startswith("Model version: 9.9 does not exist for model: tiny")
    assert client.get(f"/v2/models/nope/versions/1.0{suffix}", headers=AUTH).status_code == 404


def test_rest_and_grpc_name_the_served_version_and_refuse_another_alike(tmp_path):
    client, model = served(tmp_path)
    rest = client.get("/v2/models/tiny", headers=AUTH).json()
    assert rest["versions"] == ["1.0"]
    servicer = servicer_of(model)
    metadata = asyncio.run(servicer.ModelMetadata(pb.ModelMetadataRequest(name="tiny", version="1.0"), None))
    assert list(metadata.versions) == ["1.0"] and [t.name for t in metadata.inputs] == [t["name"] for t in rest["inputs"]]
    assert asyncio.run(servicer.ModelReady(pb.ModelReadyRequest(name="tiny"), None)).ready
    for call in (servicer.ModelMetadata(pb.ModelMetadataRequest(name="tiny", version="9.9"), None),
                 servicer.ModelReady(pb.ModelReadyRequest(name="tiny", version="9.9"), None)):
        with pytest.raises(Refused) as refused:
            asyncio.run(call)
        assert refused.value.status_code == StatusCode.NOT_FOUND and "Model version: 9.9 does not exist" in refused.value.details


def test_the_server_metadata_advertises_only_the_binary_tensor_extension(tmp_path):
    client, _ = app_of(tmp_path, loaded=True)
    assert client.get("/v2", headers=AUTH).json()["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize(("method", "path", "status", "fragment"), [
    ("GET", "/v2/models/tiny/config", 404, "GET /v2/models/tiny/config is not served here: this server serves"),
    ("GET", "/v2/systemsharedmemory/status", 404, "not Triton's extensions for model configuration, statistics"),
    ("GET", "/v2/models/tiny/infer", 405, "GET /v2/models/tiny/infer: this route takes POST, not GET"),
    ("POST", "/v2/repository/index", 404, "no repository API here"),
    ("POST", "/v2/models/nope/infer", 404, "model 'nope' is not served here"),
])
def test_every_refusal_has_the_oip_error_shape(tmp_path, method, path, status, fragment):
    client, _ = app_of(tmp_path, loaded=True)
    reply = client.request(method, path, headers=AUTH)
    body = reply.json()
    assert reply.status_code == status and fragment in body["error"] and body["error"] == body["message"], body


def test_a_refusal_of_the_token_has_the_oip_error_shape(tmp_path):
    client, _ = app_of(tmp_path, loaded=True)
    body = client.post("/v2/models/tiny/infer", content=b"{}").json()
    assert body["code"] == 401 and body["error"].startswith("Token Authorization failed")


@pytest.mark.parametrize(("loaded", "status", "health"), [(True, 200, "Healthy"), (False, 500, "Unhealthy")])
def test_ping_answers_as_torchserve_does_without_a_token(tmp_path, loaded, status, health):
    client, model = app_of(tmp_path, loaded=loaded)
    model.ready = loaded
    reply = client.get("/ping")
    assert (reply.status_code, reply.json()) == (status, {"status": health})


def test_put_reaches_the_predictions_route_as_curl_T_sends_it(tmp_path):
    client, _ = app_of(tmp_path, loaded=False)
    reply = client.put("/predictions/tiny", content=b"\x89PNG", headers=AUTH)
    assert reply.status_code == 503 and reply.json()["message"] == "model 'tiny' is still loading"  # the route, not a 405
