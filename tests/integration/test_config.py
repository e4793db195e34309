"""What config/config.properties enforces on a real TorchServe."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import requests

from harness import TorchServeProcess

from helpers import REPO, png_bytes

pytestmark = pytest.mark.integration


def test_model_registration_is_off(server):
    reply = server.client.register("efficientnet_lite0.mar")
    assert reply.status == 405, reply.body


def test_allowed_urls_keep_registration_to_the_model_store(tmp_path):
    """Even with the model API switched on, only archives in the store may be registered."""
    (tmp_path / "store").mkdir()
    with TorchServeProcess(REPO / "config" / "config.properties", tmp_path / "store", tmp_path / "ts",
                           overrides={"enable_model_api": "true"}) as server:
        server.wait_listening()
        for url in ("https://127.0.0.1:9/remote.mar", "file:///etc/passwd.mar"):
            reply = server.client.register(url)
            assert reply.status == 404, reply.body
            assert "does not match any allowed URL" in reply.body["message"]


def test_metrics_are_exposed_for_prometheus(server):
    response = requests.get(server.url("metrics") + "/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {server.client.token('inference')}"})
    assert response.status_code == 200
    assert "# TYPE" in response.text


# The few messages of TorchServe's gRPC inference API (frontend/server/src/main/resources/proto/inference.proto) this test calls.
INFERENCE_PROTO = """
syntax = "proto3";
package org.pytorch.serve.grpc.inference;
import "google/protobuf/empty.proto";
message PredictionsRequest { string model_name = 1; string model_version = 2; map<string, bytes> input = 3; }
message PredictionResponse { bytes prediction = 1; }
message TorchServeHealthResponse { string health = 1; }
service InferenceAPIsService {
  rpc Ping(google.protobuf.Empty) returns (TorchServeHealthResponse) {}
  rpc Predictions(PredictionsRequest) returns (PredictionResponse) {}
}
"""


@pytest.fixture(scope="module")
def grpc_inference(tmp_path_factory: pytest.TempPathFactory):
    """TorchServe's gRPC inference stubs, generated from the proto above."""
    import grpc  # dev dependencies: a missing one fails the test rather than skipping it
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("grpc")
    (out / "ts_inference.proto").write_text(INFERENCE_PROTO)
    include = Path(protoc.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                        str(out / "ts_inference.proto")]) == 0
    sys.path.insert(0, str(out))
    try:
        messages, services = importlib.import_module("ts_inference_pb2"), importlib.import_module("ts_inference_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    return grpc, messages, services


def test_grpc_apis_need_the_token_too(server, grpc_inference):
    """TorchServe always starts gRPC; on loopback it must not be a way around token authorization."""
    grpc, messages, services = grpc_inference
    from google.protobuf import empty_pb2

    with grpc.insecure_channel(f"127.0.0.1:{server.ports['grpc_inference']}") as channel:
        stub = services.InferenceAPIsServiceStub(channel)
        request = messages.PredictionsRequest(model_name="tiny", input={"data": png_bytes((220, 20, 30))})
        for call in (lambda metadata: stub.Ping(empty_pb2.Empty(), metadata=metadata, timeout=30),
                     lambda metadata: stub.Predictions(request, metadata=metadata, timeout=60)):
            with pytest.raises(grpc.RpcError) as refused:
                call(())
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "Token Authorization failed" in refused.value.details()
        token = (("authorization", f"Bearer {server.client.token('inference')}"),)
        assert "Healthy" in stub.Ping(empty_pb2.Empty(), metadata=token, timeout=30).health
        answer = json.loads(stub.Predictions(request, metadata=token, timeout=60).prediction)
        assert answer["predictions"] == server.client.predict_bytes("tiny", png_bytes((220, 20, 30)), "image/png").body["predictions"]
