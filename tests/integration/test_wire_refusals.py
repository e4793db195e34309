"""What each engine answers on the wire to a pinned version it does not serve, a compressed body, oversized or
unfinished headers, /metrics without the token, and an image sent as a form: the KServe runtime and a real
TorchServe, each on a store of tiny.mar, over raw HTTP (http.client keeps paths such as ``%2e%2e`` as sent)."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from PIL import Image

from harness import KServeRuntimeProcess, TorchServeProcess
from markit.builder import build_archive

from helpers import REPO, png_bytes, write_tiny_spec

pytestmark = pytest.mark.integration

RED = png_bytes((220, 20, 30))
IDLE_SECONDS = 6.5  # longer than uvicorn's default keep-alive (5 s), far shorter than the runtime's


@pytest.fixture(scope="module")
def runtime(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServeRuntimeProcess]:
    with KServeRuntimeProcess(tiny_store, tmp_path_factory.mktemp("wire-runtime")) as process:
        process.wait_ready()
        yield process


@pytest.fixture(scope="module")
def torchserve(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    with TorchServeProcess(REPO / "config" / "config.properties", tiny_store, tmp_path_factory.mktemp("wire-ts")) as process:
        process.wait_ready(["tiny"])
        yield process


def send(url: str, token: str | None, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request(method, path, body=body, headers={**({"Authorization": f"Bearer {token}"} if token else {}),
                                                              **(headers or {})})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {"text": data.decode("utf-8", "replace")}


def engines(runtime: KServeRuntimeProcess, torchserve: TorchServeProcess) -> dict[str, tuple[str, str]]:
    return {"runtime": (runtime.url(), runtime.token()), "torchserve": (torchserve.url("inference"), torchserve.client.token("inference"))}


@pytest.mark.parametrize("path", ["/predictions/tiny/9.9", "/predictions/tiny/%2e%2e"])
def test_a_version_not_served_is_a_404_naming_it_on_both_engines(runtime, torchserve, path):
    version = "9.9" if "9.9" in path else ".."
    for engine, (url, token) in engines(runtime, torchserve).items():
        status, body = send(url, token, "POST", path, RED, {"Content-Type": "image/png"})
        assert status == 404, (engine, body)
        assert f"Model version: {version} does not exist for model: tiny" in body["message"], (engine, body)
        assert send(url, token, "POST", "/predictions/tiny/1.0", RED, {"Content-Type": "image/png"})[0] == 200, engine


def test_v2_with_a_version_is_a_404_on_the_runtime_and_torchserves_501_for_any_version(runtime, torchserve):
    request = json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}).encode()
    status, body = send(runtime.url(), runtime.token(), "POST", "/v2/models/tiny/versions/9.9/infer", request,
                        {"Content-Type": "application/json"})
    assert status == 404 and body["error"].startswith("Model version: 9.9 does not exist for model: tiny")
    url, token = torchserve.url("inference"), torchserve.client.token("inference")
    for version in ("9.9", "1.0"):  # TorchServe 0.12's frontend: no versions on the v2 routes at all
        assert send(url, token, "POST", f"/v2/models/tiny/versions/{version}/infer", request,
                    {"Content-Type": "application/json"}) == (501, {"error": "Model versioning is not yet supported."})


def test_grpc_with_a_version_not_served_is_not_found_on_the_runtime(runtime):
    tensor = pb.ModelInferRequest.InferInputTensor(name="image", datatype="BYTES", shape=[1],
                                                   contents=pb.InferTensorContents(bytes_contents=[RED]))
    metadata = [("authorization", f"Bearer {runtime.token()}")]
    with grpc.insecure_channel(runtime.grpc_address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(pb.ModelInferRequest(model_name="tiny", model_version="9.9", inputs=[tensor]),
                            metadata=metadata, timeout=30)
        served = stub.ModelInfer(pb.ModelInferRequest(model_name="tiny", model_version="1.0", inputs=[tensor]),
                                 metadata=metadata, timeout=30)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND and "Model version: 9.9 does not exist" in refused.value.details()
    assert served.model_name == "tiny"


def test_a_gzip_body_is_a_415_naming_content_encoding_on_both_engines(runtime, torchserve):
    body = gzip.compress(json.dumps({"instances": [{"b64": "eA=="}]}).encode())
    for engine, (url, token) in engines(runtime, torchserve).items():
        status, answer = send(url, token, "POST", "/predictions/tiny", body,
                              {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert status == 415 and answer["message"].startswith("Content-Encoding: gzip: compressed request bodies"), (engine, answer)


def test_a_jpeg_sent_as_a_form_is_refused_by_torchserves_frontend_before_any_handler(torchserve):
    """Documented, not fixed: TorchServe's Java frontend decodes form bodies itself (Netty's HttpPostRequestDecoder)
    and answers its decoding failure with a 500 before a worker, so the handler never sees the request."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (220, 20, 30)).save(buffer, format="JPEG")
    status, body = send(torchserve.url("inference"), torchserve.client.token("inference"), "POST", "/predictions/tiny",
                        buffer.getvalue(), {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 500 and body["type"] == "ErrorDataDecoderException"


def test_metrics_on_the_runtime_ask_for_the_token(runtime):
    assert send(runtime.url(), None, "GET", "/metrics")[0] == 401
    status, body = send(runtime.url(), runtime.token(), "GET", "/metrics")
    assert status == 200 and "markit_requests_total" in body["text"]


def raw(url: str, data: bytes, timeout: float = 30) -> tuple[bytes, float]:
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        started = time.monotonic()
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def test_the_runtime_refuses_a_100_kb_header_line_and_10000_headers_with_431(runtime):
    big, _ = raw(runtime.url(), b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431") and b"more than 32768 bytes" in big
    many = b"".join(b"X-%d: v\r\n" % n for n in range(1000))  # 1,000 short headers fit in 32 KiB; the count refuses them
    counted, _ = raw(runtime.url(), b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")
    assert counted.startswith(b"HTTP/1.1 431") and b"more than this server's limit of 100" in counted


def test_the_runtime_closes_a_connection_whose_header_never_ends_after_10_s(runtime):
    answer, seconds = raw(runtime.url(), b"POST /predictions/tiny HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408") and b"not complete within 10 s" in answer
    assert 9 < seconds < 15


def test_a_kept_alive_connection_idle_past_uvicorns_5_s_default_still_answers_on_both_engines(runtime, torchserve):
    """A proxy's or client's connection pool keeps idle connections for a minute or more (nginx, an ALB: 60 s);
    a server that closes them sooner races the pool's next request, which then gets a reset, not an answer."""
    for engine, (url, token) in engines(runtime, torchserve).items():
        host, port = url.split("//")[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            statuses, sockets = [], []
            for pause in (0, IDLE_SECONDS):
                time.sleep(pause)
                connection.request("POST", "/predictions/tiny", body=RED, headers={"Authorization": f"Bearer {token}",
                                                                                   "Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                statuses.append(response.status)
                sockets.append(connection.sock)
            assert statuses == [200, 200], (engine, statuses)
            assert sockets[1] is sockets[0] is not None, engine  # the one connection, not a new one
        finally:
            connection.close()


def test_while_the_store_loads_readiness_and_metadata_are_503_json_and_each_poll_logs_one_line(tmp_path):
    spec = write_tiny_spec(tmp_path / "spec")  # its model source waits at import, when the runtime loads it
    source = spec.parent / "tiny_model.py"
    source.write_text('import os, time\ntime.sleep(float(os.environ.get("TINY_IMPORT_SECONDS", "0")))\n' + source.read_text())
    build_archive(spec, tmp_path / "store", progress=lambda _: None)
    runtime = KServeRuntimeProcess(tmp_path / "store", tmp_path / "runtime", env={"TINY_IMPORT_SECONDS": "8"})
    with runtime:
        deadline = time.monotonic() + 60
        while True:  # the listeners answer before the archives are loaded
            with contextlib.suppress(ConnectionError, OSError):
                if send(runtime.url(), None, "GET", "/v2/health/live")[0] == 200:
                    break
            assert time.monotonic() < deadline, runtime.log_tail()
            time.sleep(0.1)
        polls = [send(runtime.url(), None, "GET", "/v2/health/ready") for _ in range(3)]
        metadata = send(runtime.url(), runtime.token(), "GET", "/v2/models/tiny")
        runtime.wait_ready()
        log = (runtime.root / "kserve_runtime.out").read_text()
    assert polls == [(503, {"error": "Server is not ready: not every model of the store is loaded yet", "code": 503,
                            "type": "ServerNotReady", "message": "Server is not ready: not every model of the store is loaded yet"})] * 3
    assert metadata[0] == 503 and metadata[1]["message"] == "model 'tiny' is still loading"
    readiness = [line for line in log.splitlines() if "/v2/health/ready" in line]  # ours and wait_ready's polls
    assert len(readiness) >= 3 and all(line.endswith("GET /v2/health/ready: 503 Server is not ready: not every model "
                                                     "of the store is loaded yet") for line in readiness)
    assert "Traceback" not in log and "Exception:" not in log
