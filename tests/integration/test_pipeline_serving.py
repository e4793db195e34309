"""The two example pipelines served at start-up by TorchServe and by the KServe runtime: the same answers, a
failing step named with its status on both engines, the steps and their pins in the description."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration


def post(url: str, token: str, body: bytes, content_type: str) -> tuple[int, dict]:
    reply = requests.post(url, data=body, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}, timeout=60)
    return reply.status_code, reply.json()


def on_both(server, kserve_runtime, model: str, body: bytes, content_type: str) -> list[tuple[int, dict]]:
    return [post(server.url("inference") + f"/predictions/{model}", server.client.token("inference"), body, content_type),
            post(kserve_runtime.url() + f"/predictions/{model}", kserve_runtime.token(), body, content_type)]


def golden(mar: Path) -> tuple[bytes, dict]:
    with zipfile.ZipFile(mar) as archive:
        first = json.loads(archive.read("manifest.json"))["spec"]["golden"][0]
        return archive.read(first["input"]), first["expected"]


def test_read_number_reads_its_golden_page_on_both_engines(server, kserve_runtime, store):
    page, expected = golden(store / "read_number.mar")
    answers = on_both(server, kserve_runtime, "read_number", page, "image/png")
    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1]["number"] == answers[1][1]["number"] == expected["number"]
    assert answers[0][1]["digits"] == answers[1][1]["digits"]


@pytest.mark.parametrize(("model", "body", "content_type", "status", "named"), [
    ("read_number", b"not a page at all", "application/octet-stream", 415, {"step": "boxes", "node": "found", "step_status": 415}),
    ("phonemes", b"I have 42 apples", "text/plain", 422, {"node": "words"}),
    ("phonemes", b"b" * 40, "text/plain", 413, {"step": "g2p", "node": "said", "step_status": 413}),  # over its text_chars
    ("forecast", b'{"area": "Portland", "features": {}}', "application/json", 422, {"node": "forecast"}),
    ("forecast", b'{"area": "Seattle", "features": {"temperature_history": [500]}}', "application/json", 400,
     {"step": "seattle", "node": "forecast", "step_status": 400}),
])
def test_a_failing_step_or_node_is_named_with_its_status_on_both_engines(server, kserve_runtime, model, body, content_type,
                                                                         status, named):
    for code, answer in on_both(server, kserve_runtime, model, body, content_type):
        assert code == status
        assert {key: answer.get(key) for key in named} == named
        assert answer["error"] == answer["message"] and len(answer["message"]) > 30


def test_forecast_asks_the_forecaster_whose_capabilities_name_the_area_on_both_engines(server, kserve_runtime, store):
    for area, step in (("Seattle", "seattle"), ("San Francisco", "sf")):
        with zipfile.ZipFile(store / f"weather_{step}.mar") as archive:
            example = json.loads(archive.read("manifest.json"))["spec"]["golden"][0]
            features = json.loads(archive.read(example["input"]))
        body = json.dumps({"area": area, "features": features}).encode()
        for status, answer in on_both(server, kserve_runtime, "forecast", body, "application/json"):
            assert status == 200 and answer["forecaster"] == step and answer["forecast"]["model"]["name"] == f"weather_{step}"


def test_the_description_lists_each_step_with_its_pinned_identity(server, store):
    from markit.archive.verify import verify_mar

    described = server.client.describe("read_number")
    assert {name: step["identity"] for name, step in described["steps"].items()} == {
        "boxes": verify_mar(store / "digit_boxes.mar"), "digit": verify_mar(store / "digits.mar")}
