"""Triton's binary tensor extension read into the v2 request codec.py reads, numeric tensors as arrays
(markit/protocols/triton_binary.py), on bodies that tritonclient itself builds with its default settings, and
every malformed variant refused naming the problem."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from markit.core.budgets import Budgets
from markit.core.errors import BadInput
from markit.core.exchange import Request
from markit.core.payload import Payload
from markit.protocols import codec as kserve
from markit.protocols.routing import InstanceRules, spoken_when_unreadable, unpacked
from markit.protocols.triton_binary import unpack


def triton_body(*inputs: triton.InferInput) -> tuple[bytes, str]:
    """The body and Inference-Header-Content-Length tritonclient sends for ``inputs`` (its defaults)."""
    body, json_size = triton.InferenceServerClient.generate_request_body(list(inputs))
    return body, str(json_size)


def tensor(name: str, array: np.ndarray, datatype: str) -> triton.InferInput:
    value = triton.InferInput(name, list(array.shape), datatype)
    value.set_data_from_numpy(array)  # binary_data=True: tritonclient's default
    return value


def raw(body: bytes) -> Payload:
    return Payload({"body": body}, {"body": ""})


def test_numeric_tensors_stay_arrays_and_bytes_tensors_become_bytes_elements():
    numbers = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    words = np.array([b"caf\xc3\xa9", b"\x89PNG"], dtype=np.object_)
    body, length = triton_body(tensor("x", numbers, "FP32"), tensor("t", words, "BYTES"))
    request = unpack(raw(body), length).fields["body"]
    x, t = request["inputs"]
    assert {key: value for key, value in x.items() if key != "data"} == {"name": "x", "shape": [2, 3], "datatype": "FP32"}
    assert x["data"].dtype == np.float32 and x["data"].tolist() == numbers.ravel().tolist()
    assert t == {"name": "t", "shape": [2], "datatype": "BYTES", "data": [b"caf\xc3\xa9", b"\x89PNG"]}  # bytes, as in gRPC


def test_a_binary_request_is_expanded_like_a_json_one():
    body, length = triton_body(tensor("text", np.array([b"one", b"two"], dtype=np.object_), "BYTES"))
    request = unpacked(Request(raw(body), headers={"inference-header-content-length": length}))
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=8))
    inbound = kserve.expand(request.payload, kserve.protocol_of(request.payload), rules.admit)
    assert [p.fields["body"] for p in inbound.payloads] == [b"one", b"two"]  # raw bytes, as a raw body


def test_a_numeric_row_reaches_the_task_as_an_array_of_its_datatype_on_every_route():
    """The same FP32 [2, 2, 2] tensor in JSON and in binary: each instance is a float32 array of shape (2, 2)."""
    numbers = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=8))
    body, length = triton_body(tensor("x", numbers, "FP32"))
    binary = unpacked(Request(raw(body), headers={"inference-header-content-length": length})).payload
    json_body = Payload({"body": {"inputs": [{"name": "x", "shape": [2, 2, 2], "datatype": "FP32", "data": numbers.tolist()}]}},
                        {"body": "application/json"})
    for request in (binary, json_body):
        rows = [p.fields["body"] for p in kserve.expand(request, kserve.V2, rules.admit).payloads]
        assert [(row.dtype, row.shape) for row in rows] == [(np.float32, (2, 2))] * 2
        assert np.array_equal(np.stack(rows), numbers)


def test_a_binary_tensor_that_does_not_fill_its_shape_is_refused_naming_both():
    body, length = triton_body(tensor("x", np.zeros(3, dtype=np.float32), "FP32"))
    header, rest = body[:int(length)], body[int(length):]
    request = json.loads(header)
    request["inputs"][0]["shape"] = [2, 2]
    header = json.dumps(request).encode()
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=8))
    with pytest.raises(BadInput, match=r"holds 3 elements but shape \[2, 2\] needs 4"):
        kserve.expand(unpack(raw(header + rest), str(len(header))), kserve.V2, rules.admit)


@pytest.mark.parametrize("text", ["café", "a sentence"])
def test_a_bytes_element_means_the_same_in_json_and_in_binary(text):
    """Triton's and KServe's reading: a JSON string stands for its UTF-8 bytes, as the binary element is the bytes."""
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=8))
    value = triton.InferInput("text", [1], "BYTES")
    value.set_data_from_numpy(np.array([text.encode()], dtype=np.object_), binary_data=False)
    as_json = Payload({"body": json.dumps({"inputs": [value._get_tensor()]}).encode()}, {"body": ""})
    body, length = triton_body(tensor("text", np.array([text.encode()], dtype=np.object_), "BYTES"))
    as_binary = unpacked(Request(raw(body), headers={"inference-header-content-length": length})).payload
    expanded = [kserve.expand(p, kserve.V2, rules.admit).payloads for p in (as_json, as_binary)]
    assert expanded[0] == expanded[1] == (Payload({"body": text.encode()}, {"body": ""}),)


def test_a_request_without_the_header_is_left_alone():
    request = Request(Payload({"body": b"{}"}, {"body": "application/json"}))
    assert unpacked(request) is request and spoken_when_unreadable(request) == kserve.PLAIN
    assert spoken_when_unreadable(Request(raw(b""), headers={"inference-header-content-length": "0"})) == kserve.V2


def broken(case: str) -> tuple[bytes, str]:
    body, length = triton_body(tensor("x", np.ones(4, dtype=np.float32), "FP32"))
    size = int(length)
    if case == "length past the body":
        return body, str(len(body) + 1)
    if case == "length not a number":
        return body, "12a"
    if case == "header not JSON":
        return b"not json" + body[size:], "8"
    if case == "bytes missing":
        return body[:-3], length
    if case == "bytes left over":
        return body + b"\x00", length
    if case == "a size that is not whole values":
        header = json.loads(body[:size])
        header["inputs"][0]["parameters"]["binary_data_size"] = 15
        text = json.dumps(header).encode()
        return text + body[size:size + 15], str(len(text))
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "message"), [
    ("length past the body", "not a length within the"),
    ("length not a number", "inference-header-content-length is '12a'"),
    ("header not JSON", "is declared 'application/json' but is not valid JSON"),
    ("bytes missing", "declares binary_data_size 16, but only 13 bytes follow"),
    ("bytes left over", "1 bytes follow the binary inputs"),
    ("a size that is not whole values", "15 bytes is not a whole number of FP32 values"),
])
def test_a_malformed_binary_request_is_a_400_naming_the_problem(case, message):
    body, length = broken(case)
    with pytest.raises(BadInput, match=message):
        unpack(raw(body), length)
