"""The built archives served by a real TorchServe, through its REST APIs with token auth."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import requests
import skimage
from PIL import Image

from helpers import concurrently, png_bytes, reference_answer
from integration_helpers import SHADOW_MESSAGE

pytestmark = pytest.mark.integration

DATA = Path(skimage.__file__).parent / "data"
CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
MODEL = "efficientnet_lite0"


def photo(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_real_photos_get_the_right_labels(server):
    cat = server.client.predict_bytes(MODEL, photo("chelsea.png"), "image/png")
    coffee = server.client.predict_bytes(MODEL, photo("coffee.png"), "application/octet-stream")
    assert cat.status == 200 and coffee.status == 200
    assert cat.body["predictions"][0]["label"] in CAT_CLASSES
    assert coffee.body["predictions"][0]["label"] == "espresso"
    assert coffee.body["predictions"][0]["probability"] > 0.9
    assert len(cat.body["predictions"]) == 5
    assert cat.body["model"]["name"] == MODEL


def test_jpeg_from_another_package_photo(server):
    reply = server.client.predict_bytes(MODEL, photo("rocket.jpg"), "image/jpeg")
    assert reply.status == 200 and reply.body["predictions"]


def test_multipart_form_with_top_k(server):
    reply = server.client.predict_form(MODEL, {"image": ("chelsea.png", photo("chelsea.png"), "image/png")}, {"top_k": "2"})
    assert reply.status == 200
    assert len(reply.body["predictions"]) == 2
    assert reply.body["predictions"][0]["label"] in CAT_CLASSES


def test_base64_json_with_top_k(server):
    reply = server.client.predict_base64(MODEL, photo("coffee.png"), top_k=1)
    assert reply.status == 200
    assert [p["label"] for p in reply.body["predictions"]] == ["espresso"]


def test_exif_rotated_jpeg_gets_the_same_answer(server):
    image = Image.open(DATA / "coffee.png").convert("RGB")
    upright, rotated = io.BytesIO(), io.BytesIO()
    image.save(upright, "JPEG", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated 90° clockwise; viewers rotate it back
    image.transpose(Image.Transpose.ROTATE_270).save(rotated, "JPEG", quality=95, exif=exif.tobytes())
    first = server.client.predict_bytes(MODEL, upright.getvalue(), "image/jpeg").body["predictions"][0]
    second = server.client.predict_bytes(MODEL, rotated.getvalue(), "image/jpeg").body["predictions"][0]
    assert first["label"] == second["label"] == "espresso"
    assert first["probability"] == pytest.approx(second["probability"], abs=0.02)


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, "PNG")  # 48 M pixels, ~50 kB on the wire
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("send", "status", "fragment"),
    [
        (lambda c: c.predict_bytes(MODEL, b"GIF89a? no", "image/gif"), 415, "not an image format"),
        (lambda c: c.predict_bytes(MODEL, b"", "image/png"), 400, "empty"),
        (lambda c: c.predict_bytes(MODEL, photo("coffee.png")[:20000], "image/png"), 400, "truncated or corrupt"),
        (lambda c: c.predict_bytes(MODEL, huge_png(), "image/png"), 413, "(budgets.pixels)"),
        (lambda c: c.predict_bytes(MODEL, b"a,b\n1,2\n", "text/csv"), 415, "text/csv"),
        (lambda c: c.predict_json(MODEL, {"image": "not base64!"}), 400, "not valid base64"),
        (lambda c: c.predict_json(MODEL, {"img": "aGk="}), 400, "unknown JSON key 'img'"),
        (lambda c: c.predict_base64(MODEL, photo("coffee.png"), top_k=50), 400, "top_k must be an integer from 1 to 5"),
    ],
    ids=["not-image", "empty", "truncated", "too-many-pixels", "text", "bad-base64", "typo-key", "top-k-range"],
)
def test_bad_input_gets_a_clear_4xx(server, send, status, fragment):
    reply = send(server.client)
    assert reply.status == status, reply.body
    assert reply.body["code"] == status
    assert fragment in reply.body["message"]


def worker_pids(server, model: str) -> list[int]:
    return [w["pid"] for entry in server.client.status(model).body for w in entry["workers"]]


def test_answers_and_refusals_say_they_are_json(server):
    """Clients that read the error body only when it is declared JSON (the kserve SDK) see the message."""
    good = server.client.predict_bytes("tiny", png_bytes((220, 20, 30)), "image/png")
    bad = server.client.predict_bytes("tiny", b"not an image", "image/png")
    assert (good.status, bad.status) == (200, 415)
    for reply in (good, bad):
        assert {k.lower(): v for k, v in reply.headers.items()}["content-type"].startswith("application/json")


def test_a_real_batch_with_bad_requests_harms_no_one(server):
    before = worker_pids(server, "tiny")
    good = png_bytes((220, 20, 30))
    calls = [
        lambda: server.client.predict_bytes("tiny", good, "image/png"),
        lambda: server.client.predict_bytes("tiny", b"broken", "image/png"),
        lambda: server.client.predict_base64("tiny", good, top_k=1),
        lambda: server.client.predict_json("tiny", {"image": "@@"}),
    ]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 415, 200, 400]
    assert replies[0].body["predictions"][0]["label"] == reference_answer()["predictions"][0]["label"]
    assert len(replies[2].body["predictions"]) == 1
    assert "batch of 4 requests: 2 answered, 2 refused" in server.log_text()
    again = server.client.predict_bytes("tiny", good, "image/png")
    assert again.status == 200
    assert worker_pids(server, "tiny") == before  # the worker never restarted


def test_json_nested_past_any_decoder_fails_alone_in_its_real_batch(server):
    """~1,100 levels made TorchServe's decoder give up and ours raise outside the guard: the batch got 503."""
    before, line = worker_pids(server, "tiny"), "batch of 4 requests: 2 answered, 2 refused"
    seen = server.log_text().count(line)
    good = png_bytes((220, 20, 30))
    calls = [lambda: server.client.predict_bytes("tiny", good, "image/png")]
    calls += [lambda depth=depth: server.client.predict_bytes("tiny", b"[" * depth + b"]" * depth, "application/json")
              for depth in (1100, 5000)]
    calls += [lambda: server.client.predict_bytes("tiny", good, "image/png")]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 400, 400, 200]
    assert all("JSON nested more than 32 levels deep, the limit" in r.body["message"] for r in replies[1:3])
    assert server.log_text().count(line) == seen + 1  # one real batch of four
    assert worker_pids(server, "tiny") == before


def test_describe_returns_the_archives_public_description(server, store):
    with zipfile.ZipFile(store / f"{MODEL}.mar") as archive:
        built = json.loads(archive.read("manifest.json"))
    manifest = server.client.describe(MODEL)
    assert manifest == {"schema_version": built["schema_version"], "identity": built["identity"], "spec": built["spec"],
                        "files_verified": len(built["files"])}  # no file hashes, no provenance
    assert manifest["spec"]["preprocess"]["mean"] == [0.498, 0.498, 0.498]
    assert manifest["spec"]["metadata"]["training_data"].startswith("ImageNet")


def test_a_describe_header_on_the_inference_api_is_an_inference_request(server):
    """Only TorchServe's management call (no body) is a describe; a client's header changes nothing, even in a batch."""
    good = png_bytes((220, 20, 30))
    calls = [lambda: server.client.predict_bytes("tiny", good, "image/png"),
             lambda: server.client._call("inference", "POST", "/predictions/tiny", data=good,
                                         headers={"Content-Type": "image/png", "describe": "True"})]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 200]
    assert replies[1].body["predictions"] == replies[0].body["predictions"] and "files" not in replies[1].body


def test_archive_code_is_not_shadowed_by_pythonpath(server, shadow_path):
    assert (shadow_path / "markit" / "__init__.py").exists() and (shadow_path / "runtime" / "__init__.py").exists()
    assert server.client.predict_bytes(MODEL, photo("coffee.png"), "image/png").status == 200
    assert SHADOW_MESSAGE not in server.log_text()


def test_token_authorization_is_on(server):
    anonymous = requests.get(server.url("inference") + "/ping", timeout=10)
    assert anonymous.status_code in (400, 401)
    assert server.client.ping().status == 200
    unauthorized = requests.post(server.url("inference") + f"/predictions/{MODEL}", data=b"x", timeout=10)
    assert unauthorized.status_code in (400, 401)
