"""KServe v1/v2: the handlers of built archives answering it in TorchServe's own worker code path (its
``Service``, ``Context`` and envelope classes; tests/torchserve_worker.py), natively and behind
TorchServe's ``kserve``/``kservev2`` envelopes."""

from __future__ import annotations

import base64
import gc
import json
import logging

import pytest
from ts.torch_handler.request_envelope.kserve import KServeEnvelope
from ts.torch_handler.request_envelope.kservev2 import KServev2Envelope

from markit.builder import build_archive
from markit.core.golden import same_json
from markit.offline import LocalRequest

from helpers import png_bytes, write_convention_spec
from torchserve_worker import TorchServeWorker

JSON = "application/json"
PNG = png_bytes((220, 20, 30))
RED = base64.b64encode(PNG).decode()
BLUE = base64.b64encode(png_bytes((20, 20, 230))).decode()


def tensor(name, shape, datatype, data, **extra):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data, **extra}


def base64_images(shape, data):
    """Images in JSON: a BYTES element is its string's UTF-8, so base64 text is opted into (MLServer's content_type)."""
    return tensor("image", shape, "BYTES", data, parameters={"content_type": "base64"})


# -- the handlers, in process -------------------------------------------------------------
def json_request(value) -> LocalRequest:
    return LocalRequest(fields={"body": value}, content_types={"body": JSON})


@pytest.fixture(scope="module")
def tiny(tiny_mar):
    with TorchServeWorker(tiny_mar) as worker:
        yield worker


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """The convention Scorer: a JSON list of 4 numbers (or its UTF-8 text as bytes) -> {score, label}."""
    root = tmp_path_factory.mktemp("scorer")
    mar = build_archive(write_convention_spec(root / "spec"), root / "store", progress=lambda _: None).path
    with TorchServeWorker(mar) as worker:
        yield worker


def close(first, second) -> bool:
    return same_json(first, second, 1e-5)


def test_a_loaded_worker_keeps_what_loading_made_out_of_the_collectors_walk(tiny):
    assert gc.get_freeze_count() > 10_000  # torch, the task and its model: frozen once the worker is initialized
    assert tiny.predict([LocalRequest.raw(PNG, "image/png")])[0].status == 200


def test_native_requests_share_one_batch_and_equal_plain_answers(tiny, caplog):
    plain = [json_request({"image": RED}), json_request({"image": BLUE}), json_request({"image": RED, "top_k": 1})]
    v1 = json_request({"instances": [RED, {"b64": BLUE}, {"image": RED, "top_k": 1}]})
    v2 = json_request({"id": "mine", "inputs": [base64_images([2], [RED, BLUE])]})
    v2_top = json_request({"inputs": [base64_images([2], [BLUE, RED]), tensor("top_k", [2], "INT32", [1, 2])]})
    with caplog.at_level(logging.INFO):
        responses = tiny.predict([*plain, v1, v2, v2_top])
    assert [r.status for r in responses] == [200] * 6
    red, blue, red_top1 = (r.body for r in responses[:3])
    assert close(responses[3].body, {"predictions": [red, blue, red_top1]})
    body = responses[4].body
    assert (body["model_name"], body["model_version"], body["id"]) == ("tiny", "1.0", "mine")
    assert close([json.loads(text) for text in body["outputs"][0]["data"]], [red, blue])
    assert close([json.loads(text) for text in responses[5].body["outputs"][0]["data"]],
                 [{**blue, "predictions": blue["predictions"][:1]}, {**red, "predictions": red["predictions"][:2]}])
    assert responses[5].body["id"] == "local-5"  # no id sent: TorchServe's request id, as its own envelope does
    assert "batch of 6 requests: 6 answered, 0 refused" in caplog.text


def test_a_bad_instance_fails_its_own_request_only(tiny, caplog):
    not_an_image = base64.b64encode(b"not an image").decode()
    requests = [
        json_request({"instances": [RED, "@@"]}),
        json_request({"instances": [RED]}),
        json_request({"instances": [RED, {"b64": not_an_image}]}),
        json_request({"inputs": [base64_images([2], [RED, BLUE]), tensor("top_k", [2], "INT32", [1, 9])]}),
        json_request({"inputs": [tensor("image", [1], "FP32", [RED])]}),
        json_request({"image": RED}),
        json_request({"inputs": [tensor("image", [1], "BYTES", [RED])]}),  # base64 text not opted into: its bytes
    ]
    with caplog.at_level(logging.INFO):
        responses = tiny.predict(requests)
    assert [r.status for r in responses] == [400, 200, 415, 400, 400, 200, 415]
    messages = [r.body.get("message") for r in responses]
    assert messages[0].startswith("instances[1]: the JSON string is not valid base64")
    assert messages[2].startswith("instances[1]: the body") and "is not an image format" in messages[2]
    assert messages[3] == "instance 1: top_k must be an integer from 1 to 3 (this model's postprocess.top_k is 3), got 9"
    assert messages[4] == ("KServe v2 request: input 'image' is FP32 [1], but this model expects BYTES [-1] (an image file's "
                           "bytes: PNG, JPEG, WebP, ...); send that datatype and shape (GET /v2/models/NAME lists the inputs)")
    assert messages[6].startswith("instance 0: the body") and "is not an image format Pillow can read" in messages[6]
    for bad in (0, 2, 3, 4, 6):
        assert responses[bad].body["error"] == messages[bad] and responses[bad].body["code"] == responses[bad].status
    assert close(responses[1].body["predictions"][0], responses[5].body)
    assert "batch of 7 requests: 2 answered, 5 refused" in caplog.text


def test_convention_instances_numeric_tensors_and_bytes(scorer):
    rows = [[1, 2, 3, 4], [0, 0.5, 0, 1]]
    plain = scorer.predict([json_request(row) for row in rows])
    text = base64.b64encode(json.dumps(rows[1]).encode()).decode()
    v1, v2, v2_bytes, refused = scorer.predict([
        json_request({"instances": [rows[0], {"b64": text}]}),
        json_request({"inputs": [tensor("x", [2, 4], "FP32", [v for row in rows for v in row])]}),
        json_request({"inputs": [tensor("x", [1], "BYTES", [text], parameters={"content_type": "base64"})]}),
        json_request({"instances": [rows[0], [1, 2]]}),
    ])
    assert [r.status for r in (*plain, v1, v2, v2_bytes)] == [200] * 4 + [400]
    assert v1.body == {"predictions": [r.body for r in plain]}
    assert [json.loads(t) for t in v2.body["outputs"][0]["data"]] == [r.body for r in plain]
    # the model declares its v2 input (Scorer.v2_inputs): x FP32, 4 numbers an instance
    assert v2_bytes.body["error"].startswith("KServe v2 request: input 'x' is BYTES [1], but this model expects FP32 [-1, 4]")
    assert refused.status == 422
    assert refused.body["message"] == "instances[1]: Scorer.preprocess refused the input: expected a list of 4 numbers, got [1, 2]"


def test_a_header_named_like_a_field_does_not_disturb_the_batch(tiny):
    """A client's HTTP header 'body' replaces that field's content-type entry in TorchServe's headers;
    the batch must still be read as requests (not as instances an envelope passed)."""
    sneaky = LocalRequest(fields={"body": PNG}, content_types={"body": "image/png"}, headers={"body": "x"})
    responses = tiny.predict([sneaky, json_request({"instances": [RED]})])
    assert [r.status for r in responses] == [200, 200]
    assert close(responses[1].body, {"predictions": [responses[0].body]})


def test_too_many_instances_for_the_archives_budget(tiny):
    budget = tiny.manifest["spec"]["budgets"]["instances"]
    [response] = tiny.predict([json_request({"instances": [RED] * (budget + 1)})])
    assert response.status == 413
    assert response.body["error"] == (f"the KServe request: {budget + 1} instances, more than this model's budget of {budget} "
                                      "(budgets.instances); split the instances over several requests")


def enveloped(worker: TorchServeWorker, envelope: type, body) -> tuple[int, object]:
    """One request through TorchServe's own envelope class wrapped around the archive's handler, as
    a worker started with service_envelope=kserve / kservev2 runs it."""
    inputs = worker.receive([json_request(body)])
    [out] = envelope(worker.entry.handle).handle(inputs, worker.context)
    return worker.context.get_response_status(0)[0], out


def test_under_torchserve_kserve_envelope(tiny):
    native = tiny.predict([json_request({"instances": [RED, {"b64": BLUE}]})])[0].body
    status, body = enveloped(tiny, KServeEnvelope, {"instances": [RED, {"b64": BLUE}]})
    assert status == 200 and close(body, native)
    status, body = enveloped(tiny, KServeEnvelope, {"instances": [RED, "@@"]})
    assert status == 400
    [error] = body["predictions"]
    assert error["error"].startswith("instances[1]: the JSON string is not valid base64")
    status, body = enveloped(tiny, KServeEnvelope, {"inputs": []})
    assert status == 400 and "found no 'instances'" in body["predictions"][0]["message"]
    assert tiny.predict([json_request({"image": RED})])[0].status == 200  # the next plain batch is native again


def test_under_torchserve_kservev2_envelope(tiny, scorer):
    native = tiny.predict([json_request({"inputs": [base64_images([1], [RED])]})])[0].body
    status, body = enveloped(tiny, KServev2Envelope, {"id": "r-9", "inputs": [base64_images([1], [RED])]})
    assert status == 200 and body["id"] == "r-9" and body["model_name"] == "tiny"
    [output] = body["outputs"]
    assert output["name"] == "image" and output["datatype"] == "BYTES"  # the envelope names outputs after inputs
    assert close([json.loads(t) for t in output["data"]], [json.loads(t) for t in native["outputs"][0]["data"]])
    status, body = enveloped(tiny, KServev2Envelope, {"inputs": [base64_images([2], [RED, BLUE])]})
    assert status == 400
    assert "passes only the first element of a BYTES tensor" in json.loads(body["outputs"][0]["data"][0])["error"]
    assert not hasattr(tiny.context, "input_names")
    assert tiny.predict([json_request({"image": RED})])[0].status == 200
    # numeric tensors keep every row through the envelope
    rows = [[1, 2, 3, 4], [0, 0.5, 0, 1]]
    status, body = enveloped(scorer, KServev2Envelope, {"inputs": [tensor("x", [2, 4], "FP32", rows)]})
    assert status == 200
    assert [json.loads(t) for t in body["outputs"][0]["data"]] == [r.body for r in scorer.predict([json_request(r) for r in rows])]
