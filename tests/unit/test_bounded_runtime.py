"""Bounded work per request on the KServe runtime, in process: its REST routes (raw bodies, multipart forms, headers)
and its gRPC path take 10^5 inputs, fields and headers promptly, with a 4xx naming the limit or the right answer.
The runtime's own REST app, model and batcher over a regression handler: no archive, no server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from kserve.model_repository import ModelRepository
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

import markit.core
from markit.archive.mar_file import MarInfo
from markit.archive.open import OpenedArchive
from markit.core.batch import BatchCore
from markit.core.loading import LoadedModel
from markit.core.unpacked import UnpackedArchive
from markit.engines.kserve.archives import LoadedArchive
from markit.engines.kserve.batching import Batcher, Limits
from markit.engines.kserve.metrics import ServerMetrics
from markit.engines.kserve.model import ArchiveModel, BoundedServicer, Refused
from markit.engines.kserve.rest import MAX_FORM_FIELDS
from markit.engines.kserve.server import Options, StoreDataPlane, _rest_app
from markit.protocols.codec import MAX_INPUTS
from markit.tasks.regression.handler import Regressor

from helpers import RowSum, complete_spec

MANY = 100_000
SECONDS = 2.0  # CPU; generous, against quadratic work (10^5 v2 inputs took minutes), not a performance figure
WALL = 5  # wall time may stretch this many times the CPU bound on a machine shared with other work
SPEC = complete_spec({"name": "forecast", "version": "1.0", "task": "regression",
        "features": [{"name": "x", "shape": [], "unit": "m"}, {"name": "y", "shape": [], "unit": "m"}],
        "outputs": [{"name": "sum", "unit": "m"}], "guards": [], "budgets": {"request_bytes": 64 << 20, "rows": 8}})
SETTINGS = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": 5, "responseTimeout": 60}


TOKEN = "a-test-token-of-some-length"


@contextlib.asynccontextmanager
async def serving(directory: Path) -> AsyncIterator[tuple[ArchiveModel, httpx.AsyncClient]]:
    """The runtime's REST app as the server builds it (token check, body limit, its routes and kserve's) and its
    model and batcher over a regression handler, and a client of the app (its ``_transport.app``: the ASGI app, for
    a request httpx itself would take long to send)."""
    manifest = {"spec": SPEC, "identity": "sha256:test", "files": {}}
    handler = BatchCore(Regressor(UnpackedArchive(directory=directory, manifest=manifest), LoadedModel(forward=RowSum())))
    info = MarInfo("forecast", "1.0", "forecast.mar", "python", SETTINGS, 1)
    metrics = ServerMetrics()
    model = ArchiveModel("forecast", metrics)
    registry = ModelRepository()
    registry.update(model)
    app = _rest_app(StoreDataPlane(model_registry=registry), ModelRepositoryExtension(model_registry=registry),
                    {"forecast": model}, metrics, TOKEN,
                    Options(directory, key_file=directory / "key_file.json", max_request_bytes=64 << 20))
    batcher = Batcher(lambda requests: handler.answer(requests), Limits(4, 0.005, 1), failed=repr)
    model.serve(LoadedArchive(info, OpenedArchive(directory, "sha256:test", markit.core, handler)), batcher)
    consumer = asyncio.create_task(batcher.run())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://rt",
                                     headers={"authorization": f"Bearer {TOKEN}"}) as client:
            yield model, client
    finally:
        consumer.cancel()


def run(directory: Path, scenario: Callable[[ArchiveModel, httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with serving(directory) as (model, client):
            return await scenario(model, client)
    return asyncio.run(main())


async def timed(call: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < SECONDS and wall < WALL * SECONDS, \
        f"took {cpu:.2f} s of CPU ({wall:.2f} s), more than {SECONDS} s: the work is not linear in the request"
    return result


def tensor(name: str, data: list[float]) -> dict[str, Any]:
    return {"name": name, "shape": [len(data)], "datatype": "FP32", "data": data}


def test_ten_to_the_five_v2_inputs_over_rest_are_a_prompt_413_naming_the_limit(tmp_path):
    body = json.dumps({"inputs": [tensor(f"x{i}", [1.0]) for i in range(MANY)]})
    response = run(tmp_path, lambda _, client: timed(lambda: client.post(
        "/v2/models/forecast/infer", content=body, headers={"content-type": "application/json"})))
    assert response.status_code == 413 and f"limit of {MAX_INPUTS} per request" in response.json()["message"]


async def asgi_post(client: httpx.AsyncClient, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, Any]:
    """POST straight to the ASGI app (httpx's own client takes quadratic time over 10^5 headers)."""
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "scheme": "http", "server": ("rt", 80), "client": ("test", 1), "root_path": "",
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await client._transport.app(scope, receive, send)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_ten_to_the_five_headers_over_rest_are_a_prompt_431_naming_the_limit(tmp_path):
    headers = [(b"content-type", b"application/json"), *((f"x-header-{i}".encode(), b"v") for i in range(MANY)),
               (b"authorization", f"Bearer {TOKEN}".encode())]
    status, body = run(tmp_path, lambda _, client: timed(lambda: asgi_post(client, "/predictions/forecast", headers,
                                                                          b'{"x": 2, "y": 5}')))
    assert status == 431 and f"the request has {MANY + 2} headers, more than this server's limit of" in body["message"]


def test_ten_to_the_five_multipart_fields_are_a_prompt_400_naming_the_limit(tmp_path):
    fields = {"body": '{"x": 2, "y": 5}', **{f"field{i}": "1" for i in range(MANY)}}
    response = run(tmp_path, lambda _, client: timed(lambda: client.post("/predictions/forecast", data=fields,
                                                                         files={"unused": b""})))
    assert response.status_code == 400 and f"Maximum number of fields is {MAX_FORM_FIELDS}" in response.json()["message"]


def test_a_form_within_the_field_limit_is_read(tmp_path):
    row = ("row.json", b'{"x": 2, "y": 5}', "application/json")
    response = run(tmp_path, lambda _, client: client.post("/predictions/forecast", files={"body": row}))
    assert response.status_code == 200 and response.json()["prediction"] == {"sum": 7.0}


def grpc_request(count: int, **extra: Any) -> InferRequest:
    tensors = [pb.ModelInferRequest.InferInputTensor(name=f"x{i}", datatype="FP32", shape=[1],
                                                     contents=pb.InferTensorContents(fp32_contents=[1.0])) for i in range(count)]
    return InferRequest.from_grpc(pb.ModelInferRequest(model_name="forecast", inputs=tensors, **extra))


def refusal(directory: Path, request: InferRequest) -> Refused:
    async def predict(model: ArchiveModel, _: httpx.AsyncClient) -> None:
        await timed(lambda: model.predict(request))

    with pytest.raises(Refused) as refused:
        run(directory, predict)
    return refused.value


def test_ten_to_the_five_grpc_inputs_are_a_prompt_resource_exhausted_naming_the_limit(tmp_path):
    refused = refusal(tmp_path, grpc_request(MANY))
    assert refused.status == 413 and refused.status_code.name == "RESOURCE_EXHAUSTED"
    assert f"limit of {MAX_INPUTS} per request" in refused.body["message"]


def test_ten_to_the_five_grpc_parameters_are_a_prompt_invalid_argument(tmp_path):
    refused = refusal(tmp_path, grpc_request(1, parameters={f"p{i}": pb.InferParameter(int64_param=i) for i in range(MANY)}))
    assert refused.status == 400 and refused.status_code.name == "INVALID_ARGUMENT"
    assert "parameter 'p0' is not one this model takes" in refused.body["message"]


class Metadata:
    """A gRPC call's context, as the servicer reads it (no metadata)."""

    def invocation_metadata(self) -> list:
        return []


def test_ten_to_the_five_grpc_inputs_are_refused_before_kserve_converts_them():
    tensors = [pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1])] * MANY
    message = pb.ModelInferRequest(model_name="forecast", inputs=tensors)
    servicer = BoundedServicer(None, None)  # neither is reached: the request is refused first
    with pytest.raises(Refused) as refused:
        asyncio.run(timed(lambda: servicer.ModelInfer(message, Metadata())))
    assert refused.value.status_code.name == "RESOURCE_EXHAUSTED" and f"{MANY} input tensors" in refused.value.body["message"]
