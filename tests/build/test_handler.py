"""The handler in process, through TorchServe's own Context: per-request isolation within a batch."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from markit.offline import LocalArchive, LocalRequest

from helpers import png_bytes, reference_answer

RED = png_bytes((220, 20, 30))


@pytest.fixture(scope="module")
def served(tiny_mar):
    with LocalArchive(tiny_mar) as archive:
        yield archive


def test_answer_matches_the_independent_reference(served):
    [response] = served.predict([LocalRequest.raw(RED, "image/png")])
    assert response.status == 200
    expected = reference_answer()["predictions"]
    assert [p["label"] for p in response.body["predictions"]] == [p["label"] for p in expected]
    assert [p["probability"] for p in response.body["predictions"]] == pytest.approx([p["probability"] for p in expected], abs=1e-5)
    assert response.body["model"]["name"] == "tiny"
    assert response.body["model"]["identity"].startswith("sha256:")


def test_mixed_batch_isolates_each_bad_request(served, caplog):
    requests = [
        LocalRequest.raw(RED, "image/png"),
        LocalRequest.raw(b"not an image", "application/octet-stream"),
        LocalRequest(fields={"body": {"image": base64.b64encode(RED).decode(), "top_k": 1}}, content_types={"body": "application/json"}),
        LocalRequest.raw(b"", "image/png"),
        LocalRequest(fields={"body": {"image": "%%%"}}, content_types={"body": "application/json"}),
        LocalRequest(fields={"image": RED, "top_k": b"9"}, content_types={"image": "image/png"}),
        LocalRequest.raw(RED, "text/csv"),
    ]
    with caplog.at_level(logging.INFO):
        responses = served.predict(requests)
    assert [r.status for r in responses] == [200, 415, 200, 400, 400, 400, 415]
    assert len(responses[2].body["predictions"]) == 1
    assert responses[1].body["type"] == "UnsupportedMediaType"
    assert "top_k must be an integer from 1 to 3" in responses[5].body["message"]
    for bad in (1, 3, 4, 5, 6):
        assert set(responses[bad].body) == {"error", "code", "type", "message"}  # OIP's error, TorchServe's code/type/message
        assert responses[bad].body["code"] == responses[bad].status and responses[bad].body["error"] == responses[bad].body["message"]
    assert "batch of 7 requests: 2 answered, 5 refused" in caplog.text


def test_describe_returns_the_manifest(served):
    manifest = served.describe()
    assert manifest["spec"]["name"] == "tiny"
    assert manifest["spec"]["preprocess"]["mean"] == [0.5, 0.5, 0.5]
    assert json.dumps(manifest)  # JSON-able as TorchServe needs


def test_a_model_crash_fails_only_its_batch_and_the_handler_survives(served):
    handler = served.task_handler
    real = handler.model

    def broken(_):
        raise RuntimeError("simulated kernel failure")

    handler.model = broken
    try:
        responses = served.predict([LocalRequest.raw(RED, "image/png"), LocalRequest.raw(b"", "image/png")])
    finally:
        handler.model = real
    assert [r.status for r in responses] == [500, 400]
    assert "internal error in the handler (RuntimeError)" in responses[0].body["message"]
    assert served.predict([LocalRequest.raw(RED, "image/png")])[0].status == 200


def test_a_model_returning_a_tuple_is_reported_not_misread(served):
    handler = served.task_handler
    real = handler.model
    handler.model = lambda batch: (real(batch), real(batch))
    try:
        [response] = served.predict([LocalRequest.raw(RED, "image/png")])
    finally:
        handler.model = real
    assert response.status == 500
    assert "the model returned tuple for a batch of 1" in response.body["message"]
