"""The digits convention model behind a real TorchServe: both formats alike, per-item 422s in a
batch, and offline prediction equal to the server's answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from markit.core.golden import same_json
from markit.offline.predict import main as predict_main

from helpers import REPO, concurrently, import_file

pytestmark = pytest.mark.integration

GOLDEN = REPO / "examples" / "digits" / "build" / "golden"


def send(server, model: str, path: Path):
    content_type = "application/json" if path.suffix == ".json" else "image/png"
    return server.client.predict_bytes(model, path.read_bytes(), content_type)


@pytest.fixture(scope="module")
def digit_inputs(tmp_path_factory) -> Path:
    """Held-out digits drawn as PNGs and as 8x8 JSON arrays, plus one input the model refuses."""
    from sklearn.datasets import load_digits

    render = import_file(REPO / "examples" / "digits" / "train.py", "digits_train").render
    folder = tmp_path_factory.mktemp("digit-inputs")
    digits = load_digits()
    for index in range(1700, 1712):
        (folder / f"{index}_label{digits.target[index]}.png").write_bytes(render(digits.images[index]))
    (folder / "1797_array.json").write_text(json.dumps(digits.images[1796].tolist()))
    (folder / "9999_blank.png").write_bytes(render(digits.images[0] * 0))
    return folder


def test_eager_and_export_answer_alike(server, digit_inputs):
    for path in sorted(digit_inputs.iterdir()):
        exported, eager = send(server, "digits", path), send(server, "digits_eager", path)
        assert exported.status == eager.status
        assert exported.body.get("result") == eager.body.get("result"), path.name
    manifest = server.client.describe("digits")
    assert manifest["spec"]["model"]["format"] == "export"
    assert manifest["spec"]["metadata"]["test_accuracy"] >= 0.95


def test_golden_drawings_and_array(server):
    assert send(server, "digits", GOLDEN / "three.png").body["result"]["digit"] == 3
    assert send(server, "digits", GOLDEN / "zero.json").body["result"]["digit"] == 0


def test_a_refused_item_leaves_its_batch_alone(server):
    three = (GOLDEN / "three.png").read_bytes()
    calls = [
        lambda: server.client.predict_bytes("digits", three, "image/png"),
        lambda: server.client.predict_json("digits", [[1, 2]]),
        lambda: server.client.predict_bytes("digits", b"not a picture", "image/png"),
        lambda: server.client.predict_json("digits", {"pixels": [[0] * 8] * 8}),
    ]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 422, 422, 200]
    assert "expected an 8x8 array of ink values, got shape [1, 2]" in replies[1].body["message"]
    assert replies[2].body["type"] == "UnprocessableInput"


def test_offline_prediction_equals_the_server(server, store, digit_inputs, tmp_path):
    out = tmp_path / "markit.offline.jsonl"
    predict_main([str(store / "digits.mar"), str(digit_inputs), "--batch-size", "4", "--workers", "2", "--output", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(line["input"]).name for line in lines] == sorted(p.name for p in digit_inputs.iterdir())
    for line in lines:
        served = send(server, "digits", Path(line["input"]))
        assert line["status"] == served.status, line["input"]
        # equal JSON; floats may differ in the last digits because TorchServe formed other batches
        assert same_json(served.body, line["response"], 1e-5), line["input"]
        assert line["response"].get("result", {}).get("digit") == served.body.get("result", {}).get("digit")
    assert sum(line["status"] == 422 for line in lines) == 1  # the blank drawing
