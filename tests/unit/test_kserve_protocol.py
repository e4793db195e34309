"""KServe v1/v2: the pure protocol module (markit.protocols.codec). The handlers answering it in built
archives are in tests/build/test_kserve_handlers.py."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from markit.core.budgets import Budgets
from markit.core.declared import Input
from markit.core.errors import BadInput, PayloadTooLarge
from markit.core.payload import Payload, binary_input, text_input
from markit.protocols import codec as kserve
from markit.protocols.routing import InstanceRules

from helpers import png_bytes

JSON = "application/json"
PNG = png_bytes((220, 20, 30))
RED = base64.b64encode(PNG).decode()
BLUE = base64.b64encode(png_bytes((20, 20, 230))).decode()


SEQ2SEQ = (Input("text", "BYTES"), Input("beam_width", "INT32", required=False), Input("num_candidates", "INT32", required=False))
IMAGE = (Input("image", "BYTES", (), "an image"), Input("top_k", "INT32", (), "labels", required=False))
DIGITS = (Input("x", "FP32", (8, 8), "ink"),)


def payload(value, content_type=JSON, name="body") -> Payload:
    return Payload({name: value}, {name: content_type})


def tensor(name, shape, datatype, data, **extra):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **extra}


def rules(instances=64, named=False) -> InstanceRules:
    return InstanceRules(Budgets(request_bytes=1 << 20, instances=instances), named=named)


def expand(body, named=False, limit=64) -> kserve.Inbound:
    request = payload(body)
    return kserve.expand(request, kserve.protocol_of(request), rules(limit).admit, named)


def bodies(inbound: kserve.Inbound) -> list[tuple]:
    return [(plain(p.fields["body"]), p.content_types["body"]) for p in inbound.payloads]


def plain(value):
    """A task's view of an instance, its numeric rows (arrays) as lists, for comparing."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    return {key: plain(item) for key, item in value.items()} if isinstance(value, dict) else value


# -- the pure module ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_payload", "protocol"),
    [
        (payload({"instances": [1]}), kserve.V1),
        (payload({"inputs": []}), kserve.V2),
        (payload({"instances": [1], "inputs": []}), kserve.V1),          # then refused: unknown key 'inputs'
        (payload(b'{"instances": [1]}', "application/json; charset=utf-8"), kserve.V1),
        (payload({"image": RED}), kserve.PLAIN),
        (payload(["instances"]), kserve.PLAIN),
        (payload("inputs"), kserve.PLAIN),
        (payload(b'{"instances": [1]}', "application/octet-stream"), kserve.PLAIN),  # not declared JSON
        (payload(b'{"instances": ', "application/json; charset=utf-8"), kserve.PLAIN),  # the task reports bad JSON
        (payload({"instances": [1]}, name="image"), kserve.PLAIN),        # a multipart field, not a body
        (Payload({"body": {"instances": [1]}, "top_k": b"1"}, {}), kserve.PLAIN),
    ],
)
def test_protocol_of(request_payload, protocol):
    assert kserve.protocol_of(request_payload) == protocol


def test_v1_instances_become_the_task_json_bodies():
    inbound = expand({"instances": ["abc", {"b64": base64.b64encode(b"\x89PNG").decode()}, {"image": "x", "top_k": 1}, [1, 2]]})
    assert inbound.protocol == kserve.V1
    assert bodies(inbound) == [("abc", JSON), (b"\x89PNG", ""), ({"image": "x", "top_k": 1}, JSON), ([1, 2], JSON)]
    assert [inbound.label(i) for i in (0, 3)] == ["instances[0]", "instances[3]"]


@pytest.mark.parametrize(
    ("inputs", "named", "expected"),
    [
        ([tensor("t", [2], "BYTES", ["a", "b"])], False, [(b"a", ""), (b"b", "")]),  # a BYTES element is bytes: a raw body
        ([tensor("x", [2, 2], "FP32", [1, 2.5, 3, 4])], False, [([1, 2.5], JSON), ([3, 4], JSON)]),
        ([tensor("x", [2, 2], "FP32", [[1, 2.5], [3, 4]])], False, [([1, 2.5], JSON), ([3, 4], JSON)]),  # nested data
        ([tensor("x", [2, 1, 2], "INT64", [1, 2, 3, 4])], False, [([[1, 2]], JSON), ([[3, 4]], JSON)]),
        ([tensor("flag", [1], "BOOL", [True])], False, [(True, JSON)]),
        ([tensor("x", [2, 3], "FP64", list(range(6)))], True, [({"x": [0, 1, 2]}, JSON), ({"x": [3, 4, 5]}, JSON)]),
        ([tensor("image", [2], "BYTES", ["a", "b"]), tensor("top_k", [2], "INT32", [1, 2])], False,
         [({"image": "a", "top_k": 1}, JSON), ({"image": "b", "top_k": 2}, JSON)]),
        ([tensor("t", [1], "BYTES", [base64.b64encode(b"raw").decode()], parameters={"content_type": "base64"})], False,
         [(b"raw", "")]),
        ([tensor("t", [1], "BYTES", ["téxt"], parameters={"content_type": "str"})], False, [("téxt".encode(), "")]),
    ],
    ids=["bytes", "fp32-flat", "fp32-nested", "int64-3d", "bool", "named", "two-tensors", "base64", "str"],
)
def test_v2_rows_become_instances(inputs, named, expected):
    inbound = expand({"id": "r-1", "inputs": inputs, "parameters": {}, "outputs": [{"name": "answer"}]}, named)
    assert inbound.protocol == kserve.V2 and inbound.request_id == "r-1"
    assert bodies(inbound) == expected
    assert inbound.label(1) == "instance 1"


TOO_MANY = 4


@pytest.mark.parametrize(
    ("body", "named", "error", "fragment"),
    [
        ({"instances": "abc"}, False, BadInput, "'instances' must be a non-empty JSON list, one element per input; got a string"),
        ({"instances": []}, False, BadInput, "got an empty list"),
        ({"instances": [1], "signature_name": "x"}, False, BadInput, "KServe v1 request: unknown key 'signature_name'"),
        ({"instances": [1], "inputs": []}, False, BadInput, "unknown key 'inputs'"),
        ({"instances": [{"b64": 5}]}, False, BadInput, "instances[0].b64 must be a base64 string, got a number 5"),
        ({"instances": ["a", {"b64": "%%"}]}, False, BadInput, "instances[1].b64 is not valid base64"),
        ({"instances": [1] * (TOO_MANY + 1)}, False, PayloadTooLarge, "KServe request: 5 instances, more than this model's budget of 4"),
        ({"inputs": {"name": "x"}}, False, BadInput, "'inputs' must be a non-empty list of tensors"),
        ({"inputs": ["abc"]}, False, BadInput, "inputs[0] must be a tensor object {name, shape, datatype, data}, got a string"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, False, BadInput, "inputs[0]: missing key 'data'"),
        ({"inputs": [{**tensor("x", [1], "FP32", [1]), "dims": [1]}]}, False, BadInput, "inputs[0]: unknown key 'dims'"),
        ({"inputs": [tensor("", [1], "FP32", [1])]}, False, BadInput, "inputs[0].name must be a non-empty string"),
        ({"inputs": [tensor("x", [], "FP32", [1])]}, False, BadInput, "inputs[0] ('x').shape must be a list of one or more"),
        ({"inputs": [tensor("x", [-1], "FP32", [1])]}, False, BadInput, "non-negative integers"),
        ({"inputs": [tensor("x", [1], "FLOAT", [1])]}, False, BadInput, "datatype 'FLOAT' is not one of"),
        ({"inputs": [tensor("x", [2, 2], "FP32", [1, 2, 3])]}, False, BadInput, "data holds 3 elements but shape [2, 2] needs 4"),
        ({"inputs": [tensor("x", [1], "FP32", 1.5)]}, False, BadInput, "data must be a JSON list (flat or nested), got a number"),
        ({"inputs": [tensor("x", [2], "FP32", [1, "a"])]}, False, BadInput, "element 1 is a string \"a\", not a value of datatype FP32"),
        ({"inputs": [tensor("x", [1], "INT8", [200])]}, False, BadInput, "element 0 is a number 200, not a value of datatype INT8"),
        ({"inputs": [tensor("x", [1], "UINT8", [-1])]}, False, BadInput, "not a value of datatype UINT8"),
        ({"inputs": [tensor("x", [1], "INT32", [1.5])]}, False, BadInput, "not a value of datatype INT32"),
        ({"inputs": [tensor("x", [1], "BOOL", [1])]}, False, BadInput, "not a value of datatype BOOL"),
        ({"inputs": [tensor("x", [1], "FP32", [True])]}, False, BadInput, "not a value of datatype FP32"),
        ({"inputs": [tensor("x", [1], "BYTES", [5])]}, False, BadInput, "not a value of datatype BYTES"),
        ({"inputs": [tensor("x", [0], "BYTES", [])]}, False, BadInput, "holds no instances"),
        ({"inputs": [tensor("a", [2], "BYTES", ["x", "y"]), tensor("b", [3], "INT32", [1, 2, 3])]}, False, BadInput,
         "inputs[1] ('b') has 3 rows but inputs[0] ('a') has 2"),
        ({"inputs": [tensor("a", [1], "BYTES", ["x"]), tensor("a", [1], "BYTES", ["y"])]}, False, BadInput,
         "input name 'a' appears more than once"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "id": 7}, False, BadInput, "'id' must be a string, got a number 7"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "parameters": {"sequence_id": 7}}, False, BadInput,
         "parameter 'sequence_id' is not one this model takes (it takes only ['binary_data_output', 'timeout']"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "outputs": [{"name": "logits"}]}, False, BadInput,
         "outputs[0] asks for 'logits'; this model's outputs are ['answer']"),
        ({"inputs": [tensor("x", [1], "FP32", [1])], "model": "x"}, False, BadInput, "KServe v2 request: unknown key 'model'"),
        ({"inputs": [tensor("x", [1], "BYTES", ["x"], parameters={"binary_data_size": 3})]}, False, BadInput,
         "'binary_data_size' is not supported here"),
        ({"inputs": [tensor("x", [1], "FP32", [1], parameters={"content_type": "base64"})]}, False, BadInput,
         "content_type 'base64' is not supported for FP32"),
        ({"inputs": [tensor("x", [1], "BYTES", ["%%"], parameters={"content_type": "base64"})]}, False, BadInput,
         "inputs[0] ('x').data[0] is not valid base64"),
        ({"inputs": [tensor("x", [1], "BYTES", ["/w=="], parameters={"content_type": "base64"})]}, True, BadInput,
         "input 'x' holds bytes that are not UTF-8 text (byte 0); this model reads that input as JSON text"),
        ({"inputs": [tensor("x", [1], "BYTES", ["\ud800"])]}, False, BadInput, "data[0] holds a lone surrogate at character 0"),
        ({"inputs": [tensor("x", [TOO_MANY + 1], "INT32", [1] * (TOO_MANY + 1))]}, False, PayloadTooLarge, "(budgets.instances)"),
    ],
)
def test_malformed_requests_name_the_problem(body, named, error, fragment):
    with pytest.raises(error) as caught:
        expand(body, named, limit=TOO_MANY)
    assert fragment in str(caught.value)
    assert type(caught.value) is error


def test_instances_decode_as_each_task_reads_its_json_body():
    texts = expand({"instances": ["a text", {"b64": base64.b64encode("héllo".encode()).decode()}, ["x", "y"]]})
    assert [text_input(p, rules().budgets) for p in texts.payloads] == [(["a text"], True), (["héllo"], True), (["x", "y"], False)]
    by_v2 = expand({"inputs": [tensor("text", [2], "BYTES", ["one", "two"])]})
    assert [text_input(p, rules().budgets) for p in by_v2.payloads] == [(["one"], True), (["two"], True)]
    images = expand({"instances": [RED, {"b64": RED}, {"image": RED, "top_k": 2}, "data:image/png;base64," + RED]})
    found = [binary_input(p, data_keys=("image",), option_keys=("top_k",)) for p in images.payloads]
    assert [f.data for f in found] == [PNG] * 4
    assert [dict(f.options) for f in found] == [{}, {}, {"top_k": 2}, {}]


def test_only_the_torchserve_envelope_may_pass_a_bare_bytes_element():
    with pytest.raises(BadInput, match="data must be a JSON list"):
        expand({"inputs": [tensor("t", [1], "BYTES", "a")]})


def test_responses():
    answers = [{"label": "cat", "p": 0.5}, {"label": "dog", "note": "ünïcode"}]
    assert kserve.v1_response(answers) == {"predictions": answers}
    v2 = kserve.v2_response(answers, "m", "1.0", "r-1")
    assert {k: v2[k] for k in ("model_name", "model_version", "id")} == {"model_name": "m", "model_version": "1.0", "id": "r-1"}
    [output] = v2["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("answer", "BYTES", [2])
    assert [json.loads(text) for text in output["data"]] == answers
    error = kserve.error_response({"code": 400, "type": "BadInput", "message": "instances[1]: bad"})
    assert error == {"error": "instances[1]: bad", "code": 400, "type": "BadInput", "message": "instances[1]: bad"}


def test_a_kserve_request_without_a_content_type_is_still_one():
    """tritonclient sends its JSON requests without a Content-Type: a text model must not embed the JSON as text."""
    v2 = json.dumps({"inputs": [tensor("text", [1], "BYTES", ["a sentence"])]}).encode()
    undeclared = payload(b"  " + v2, content_type="")
    assert kserve.protocol_of(undeclared) == kserve.V2
    inbound = kserve.expand(undeclared, kserve.V2, rules().admit)
    assert bodies(inbound) == [(b"a sentence", "")]
    for raw in (b"{not json", b"just text", json.dumps({"text": "x"}).encode()):  # not a KServe request: the task reads it
        assert kserve.protocol_of(payload(raw, content_type="")) == kserve.PLAIN


def test_what_standard_clients_send_by_default_is_accepted():
    """The kserve SDK names the model in the body; tritonclient asks for binary outputs or sets a timeout."""
    body = {"id": "r-9", "model_name": "tiny", "model_version": "1", "inputs": [tensor("x", [1], "FP32", [1.5])],
            "parameters": {"binary_data_output": True, "timeout": 5_000_000},
            "outputs": [{"name": "answer", "parameters": {"binary_data": True}}]}
    inbound = expand(body)
    assert bodies(inbound) == [(1.5, JSON)] and inbound.request_id == "r-9"


def test_a_v2_requests_parameters_carry_the_tasks_options_to_every_instance():
    body = {"inputs": [tensor("text", [2], "BYTES", ["read", "live"])], "parameters": {"beam_width": 3, "binary_data_output": True}}
    request = payload(body)
    inbound = kserve.expand(request, kserve.V2, rules().admit, inputs=SEQ2SEQ)
    assert [dict(p.fields) for p in inbound.payloads] == [{"body": b"read", "beam_width": 3}, {"body": b"live", "beam_width": 3}]
    with pytest.raises(BadInput, match=r"parameter 'beam' is not one this model takes \(it takes only its options "
                                       r"\['beam_width', 'num_candidates'\], and \['binary_data_output', 'timeout'\]"):
        kserve.expand(payload({**body, "parameters": {"beam": 3}}), kserve.V2, rules().admit, inputs=SEQ2SEQ)
    with pytest.raises(BadInput, match="parameter 'beam_width' is not one this model takes"):
        kserve.expand(request, kserve.V2, rules().admit)  # a task without options takes none


# -- the declared inputs ----------------------------------------------------------------------
def declared(body, inputs, named=False) -> kserve.Inbound:
    return kserve.expand(payload(body), kserve.V2, rules().admit, named, inputs=inputs)


def test_an_option_tensor_gives_each_instance_its_option_beside_the_image_bytes():
    inbound = declared({"inputs": [tensor("image", [2], "BYTES", ["a", "b"]), tensor("top_k", [2], "INT32", [1, 2])]}, IMAGE)
    assert [dict(p.fields) for p in inbound.payloads] == [{"body": b"a", "top_k": 1}, {"body": b"b", "top_k": 2}]
    by_parameter = declared({"inputs": [tensor("image", [1], "BYTES", ["a"])], "parameters": {"top_k": 2}}, IMAGE)
    assert [dict(p.fields) for p in by_parameter.payloads] == [{"body": b"a", "top_k": 2}]
    numbers = declared({"inputs": [tensor("x", [1, 8, 8], "FP32", [0.5] * 64)]}, DIGITS)
    assert bodies(numbers) == [([[0.5] * 8] * 8, JSON)]
    assert numbers.payloads[0].fields["body"].dtype == np.float32


@pytest.mark.parametrize(
    ("body", "inputs", "fragment"),
    [
        ({"inputs": [tensor("x", [1, 8, 8], "INT64", [1] * 64)]}, DIGITS,
         "input 'x' is INT64 [1, 8, 8], but this model expects FP32 [-1, 8, 8] (ink); send that datatype and shape"),
        ({"inputs": [tensor("x", [1, 64], "FP32", [1] * 64)]}, DIGITS, "input 'x' is FP32 [1, 64], but this model expects FP32 [-1, 8, 8]"),
        ({"inputs": [tensor("input", [1], "BYTES", ["a"])]}, IMAGE,
         "input 'input' is not one this model takes; it takes 'image' BYTES [-1], and the options 'top_k' INT32 [-1]"),
        ({"inputs": [tensor("top_k", [1], "INT32", [1])]}, IMAGE, "the input 'image' is missing; it takes 'image' BYTES [-1]"),
        ({"inputs": [tensor("image", [1], "BYTES", ["a"]), tensor("top_k", [1], "INT64", [1])]}, IMAGE,
         "option 'top_k' is INT64 [1], but this model expects INT32 [-1] (labels)"),
        ({"inputs": [tensor("image", [1], "BYTES", ["a"])], "parameters": {"top_k": "2"}}, IMAGE,
         "parameter 'top_k' is a string \"2\", but this model expects a value of datatype INT32 (labels)"),
        ({"inputs": [tensor("image", [1], "BYTES", ["a"]), tensor("top_k", [1], "INT32", [1])], "parameters": {"top_k": 2}}, IMAGE,
         "the option 'top_k' is given both as a request parameter and as an input tensor; send one"),
    ],
    ids=["datatype", "shape", "unknown-name", "missing", "option-datatype", "parameter-datatype", "option-twice"],
)
def test_a_tensor_other_than_declared_is_a_400_naming_what_was_expected_and_given(body, inputs, fragment):
    with pytest.raises(BadInput) as caught:
        declared(body, inputs)
    assert fragment in str(caught.value) and type(caught.value) is BadInput
