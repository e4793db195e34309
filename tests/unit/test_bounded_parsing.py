"""Bounded work per request: 10^5 instances, tensors, parameters, outputs, fields, rows and headers through every
protocol path of the engine-free core (and TorchServe's adapter) cost well under a second each and get a clear
4xx naming the limit, or the right answer. The time bound is generous on purpose: it guards against quadratic
parsing (10^5 v2 inputs took about a minute), it is not a performance figure."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_torchserve_adapter import read
from ts.context import Context
from ts.service import Service

from markit.core.batch import BatchCore
from markit.core.budgets import Budgets
from markit.core.errors import BadInput, PayloadTooLarge
from markit.core.exchange import Request, Response
from markit.core.loading import LoadedModel
from markit.core.payload import Payload, binary_input, text_input
from markit.core.unpacked import UnpackedArchive
from markit.engines.torchserve.adapter import TorchServeAdapter
from markit.protocols import codec as kserve
from markit.protocols.triton_binary import HEADER_LENGTH
from markit.tasks.regression.handler import Regressor

from helpers import RowSum, complete_spec

MANY = 100_000
SECONDS = 2.0  # CPU; generous: linear parsing of 10^5 items takes milliseconds to a second; quadratic takes minutes
PAST_LIMIT_SECONDS = 6.0  # reading 10^5 whole tensors (past MAX_INPUTS, raised for the test) takes about 1.5 s
WALL = 5  # wall time may stretch this many times the CPU bound on a machine shared with other work
ROWS = 8
SPEC = complete_spec({"name": "forecast", "version": "1.0", "task": "regression",
        "features": [{"name": "x", "shape": [], "unit": "m"}, {"name": "y", "shape": [], "unit": "m"}],
        "outputs": [{"name": "sum", "unit": "m"}], "guards": [],
        "budgets": {"request_bytes": 64 << 20, "rows": ROWS}})


@pytest.fixture
def handler(tmp_path: Path) -> BatchCore:
    manifest = {"spec": SPEC, "identity": "sha256:test", "files": {}}
    return BatchCore(Regressor(UnpackedArchive(directory=tmp_path, manifest=manifest), LoadedModel(forward=RowSum())))


def timed(call: Callable[[], Any], seconds: float = SECONDS) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < seconds and wall < WALL * seconds, \
        f"took {cpu:.2f} s of CPU ({wall:.2f} s), more than {seconds} s: parsing is not linear in the request"
    return result


def answer(handler: Regressor, body: Any, headers: dict[str, str] | None = None, seconds: float = SECONDS) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = Request(Payload({"body": raw}, {"body": "application/json"}), "r", headers or {})
    [response] = timed(lambda: handler.answer([request]), seconds)
    return response


def tensor(name: str, data: list[Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "shape": [len(data)], "datatype": "FP32", "data": data, **extra}


XY = [tensor("x", [1.0]), tensor("y", [2.0])]
MANY_BODIES = {
    "v1 instances": ({"instances": [{"x": 1, "y": 2}] * MANY}, 413, f"{MANY} rows, more than this model's budget of {ROWS}"),
    "v2 input tensors": ({"inputs": [tensor(f"x{i}", [1.0]) for i in range(MANY)]}, 413,
                         f"{MANY} input tensors, more than the limit of {kserve.MAX_INPUTS} per request"),
    "v2 rows of one tensor": ({"inputs": [tensor("x", [1.0] * MANY), tensor("y", [1.0] * MANY)]}, 413,
                              f"{MANY} rows, more than this model's budget of {ROWS}"),
    "v2 tensor parameters": ({"inputs": [tensor("x", [1.0], parameters={f"p{i}": i for i in range(MANY)}), XY[1]]}, 400,
                             "'p0' is not supported here"),
    "v2 request parameters": ({"inputs": XY, "parameters": {f"p{i}": i for i in range(MANY)}}, 400,
                              "parameter 'p0' is not one this model takes"),
    "JSON list of rows": ([{"x": 1, "y": 2}] * MANY, 413, f"{MANY} rows, more than this model's budget of {ROWS}"),
    "JSON object of features": ({f"f{i}": 1 for i in range(MANY)}, 400, "f0: unknown feature"),
}


@pytest.mark.parametrize(("body", "status", "message"), MANY_BODIES.values(), ids=MANY_BODIES.keys())
def test_ten_to_the_five_items_are_a_prompt_4xx_naming_the_limit(handler, body, status, message):
    response = answer(handler, body)
    assert response.status == status and message in response.body["message"]


def test_ten_to_the_five_requested_outputs_get_the_answer_once(handler):
    response = answer(handler, {"inputs": XY, "outputs": [{"name": "sum"}] * MANY})
    assert response.status == 200 and [output["name"] for output in response.body["outputs"]] == ["sum"]
    assert response.body["outputs"][0]["data"] == [3.0]


def test_ten_to_the_five_headers_are_read_and_the_answer_is_right(handler):
    headers = {f"x-header-{i}": "v" for i in range(MANY)}
    response = answer(handler, {"x": 4, "y": 5}, headers)
    assert response.status == 200 and response.body["prediction"] == {"sum": 9.0}


def test_ten_to_the_five_form_fields_are_a_prompt_400_naming_one(handler):
    fields = {"body": json.dumps({"x": 1, "y": 2}).encode(), **{f"field{i}": b"1" for i in range(MANY)}}
    request = Request(Payload(fields, {"body": "application/json"}), "r")
    [response] = timed(lambda: handler.answer([request]))
    assert response.status == 400 and "unknown field 'field0'" in response.body["message"]


def test_the_duplicate_input_check_is_linear_in_the_count_of_inputs(handler, monkeypatch):
    monkeypatch.setattr(kserve, "MAX_INPUTS", 10 * MANY)  # past the limit, to time the check itself
    inputs = [tensor(f"x{i}", [1.0]) for i in range(MANY)] + [tensor("x7", [1.0])]
    response = answer(handler, {"inputs": inputs}, seconds=PAST_LIMIT_SECONDS)
    assert response.status == 400 and "input name 'x7' appears more than once" in response.body["message"]


def binary_request(count: int) -> tuple[bytes, dict[str, str]]:
    """Triton's binary extension: ``count`` FP32 inputs of one value each, after the JSON header."""
    header = json.dumps({"inputs": [{"name": f"x{i}", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
                                    for i in range(count)]}).encode()
    return header + struct.pack("<f", 1.0) * count, {HEADER_LENGTH: str(len(header))}


def test_ten_to_the_five_binary_tensors_are_a_prompt_413_before_their_bytes_are_read(handler):
    body, headers = binary_request(MANY)
    response = answer(handler, body, headers)
    assert response.status == 413 and f"limit of {kserve.MAX_INPUTS}" in response.body["message"]


def test_reading_binary_tensors_is_linear_in_their_count(handler, monkeypatch):
    monkeypatch.setattr(kserve, "MAX_INPUTS", 10 * MANY)
    body, headers = binary_request(MANY)
    response = answer(handler, body, headers, PAST_LIMIT_SECONDS)
    # read to the end, then checked against the model's declared inputs
    assert response.status == 400 and "input 'x0' is not one this model takes; it takes 'x' FP32 [-1]" in response.body["message"]


def test_a_json_list_of_ten_to_the_five_texts_is_a_prompt_413():
    payload = Payload({"body": json.dumps(["word"] * MANY).encode()}, {"body": "application/json"})
    with pytest.raises(PayloadTooLarge, match=f"the request: {MANY} texts, more than this model's budget of 64"):
        timed(lambda: text_input(payload, Budgets(request_bytes=1 << 30, texts=64)))


def test_a_json_list_of_ten_to_the_five_images_is_a_prompt_400():
    payload = Payload({"body": json.dumps(["aGVsbG8="] * MANY).encode()}, {"body": "application/json"})
    with pytest.raises(BadInput, match="a JSON list is not accepted here: send one input per request"):
        timed(lambda: binary_input(payload, ("image",), ("top_k",)))


def torchserve_batch(fields: dict[str, bytes], headers: dict[str, str]) -> tuple[list[dict], Context]:
    """One request as TorchServe's worker parses it (``Service.retrieve_data_for_inference``) and its Context."""
    wire = [{"requestId": b"id-0", "parameters": [{"name": name, "contentType": "application/json", "value": value}
                                                   for name, value in fields.items()],
             "headers": [{"name": k.encode(), "value": v.encode()} for k, v in headers.items()]}]
    parsed, inputs, request_ids = Service.retrieve_data_for_inference(wire)
    context = Context("forecast", ".", {}, 1, None, None)
    context.request_ids, context.request_processor = request_ids, parsed
    return inputs, context


@pytest.mark.parametrize(("fields", "headers", "status", "message"), [
    ({"body": b'{"x": 1, "y": 2}'}, {f"x-header-{i}": "v" for i in range(MANY)}, 200, None),
    ({"body": b'{"x": 1, "y": 2}', **{f"field{i}": b"1" for i in range(MANY)}}, {}, 400, "unknown field 'field0'"),
    ({"body": json.dumps({"instances": [{"x": 1, "y": 2}] * MANY}).encode()}, {}, 413, "budget of 8 (budgets.rows)"),
    ({"body": json.dumps({"inputs": [tensor(f"x{i}", [1.0]) for i in range(MANY)]}).encode()}, {}, 413,
     f"more than the limit of {kserve.MAX_INPUTS} per request"),
], ids=["headers", "form fields", "v1 instances", "v2 inputs"])
def test_torchserves_adapter_reads_ten_to_the_five_headers_or_fields_promptly(handler, fields, headers, status, message):
    adapter = TorchServeAdapter(handler)
    inputs, context = torchserve_batch(fields, headers)
    [body] = read(timed(lambda: adapter.handle(inputs, context)))
    assert context.get_response_status(0)[0] == status
    assert body["prediction"] == {"sum": 3.0} if message is None else message in body["message"]
