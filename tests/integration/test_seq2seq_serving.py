"""English G2P (g2p-en's weights, ported) behind a real TorchServe and the KServe runtime: n-best ARPAbet with
scores, greedy equal to g2p-en's own decoder, the archive's search narrowed and widened within its maxima, bad
requests refused alone in mixed batches, the standard clients' parameters and typed outputs, offline = served."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import requests
import tritonclient.http as triton

from markit.core.golden import same_json
from markit.offline.predict import main as predict_main

from helpers import REPO, concurrently

pytestmark = pytest.mark.integration

MODEL = "g2p_en"
MIXED = re.compile(r"batch of (\d+) requests: (\d+) answered, (\d+) refused")
sys.path.insert(0, str(REPO / "examples" / "g2p_en"))


@pytest.fixture(scope="module")
def original():
    """g2p-en's own numpy decoder (its source, run without NLTK: examples/g2p_en/reference.py)."""
    import reference

    return reference.original()


@pytest.fixture(scope="module")
def held_out() -> list[str]:
    import lexicon

    words = lexicon.lexicon()
    return lexicon.held_out(words, lexicon.old_words())


def outputs(answer: dict) -> list[str]:
    return [candidate["output"] for candidate in answer["candidates"]]


def test_a_word_gets_its_n_best_pronunciations_with_scores_and_the_archives_search(server):
    reply = server.client.predict_bytes(MODEL, b"read", "text/plain")
    assert reply.status == 200, reply.body
    assert outputs(reply.body)[:2] == ["R IY1 D", "R EH1 D"]  # both of the dictionary's, best first
    scores = [c["score"] for c in reply.body["candidates"]]
    assert len(scores) == 8 and scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    assert reply.body["search"] == {"beam_width": 8, "num_candidates": 8, "max_length": 20, "length_penalty": 0.0}
    for candidate in reply.body["candidates"]:
        assert candidate["score"] == candidate["log_prob"] and candidate["finished"] is True


def test_heteronyms_get_their_other_pronunciation_in_the_n_best(server):
    reply = server.client.predict_json(MODEL, ["read", "live", "record"])
    assert reply.status == 200
    read, live, record = (outputs(result) for result in reply.body["results"])
    assert {"R EH1 D", "R IY1 D"} <= set(read) and {"L AY1 V", "L IH1 V"} <= set(live)
    assert {"R IH0 K AO1 R D", "R EH1 K ER0 D"} <= set(record)  # the verb and the noun


def test_served_greedy_decoding_is_g2p_ens_own_on_held_out_words(server, original, held_out):
    words = held_out[::31]  # 32 words newer than the model's training data
    reply = server.client.predict_json(MODEL, {"text": words, "beam_width": 1, "num_candidates": 1})
    assert reply.status == 200
    served = [result["candidates"][0]["output"] for result in reply.body["results"]]
    assert served == [" ".join(original.predict(word)) for word in words]


def test_a_request_narrows_and_widens_the_search_within_the_maxima(server):
    narrow = server.client.predict_json(MODEL, {"text": "live", "beam_width": 1, "num_candidates": 1})
    wide = server.client.predict_json(MODEL, {"text": "live", "beam_width": 32, "num_candidates": 32, "max_length": 32,
                                              "length_penalty": 1.0})
    assert narrow.status == wide.status == 200
    assert outputs(narrow.body) == ["L AY1 V"] and len(wide.body["candidates"]) == 32
    assert wide.body["search"] == {"beam_width": 32, "num_candidates": 32, "max_length": 32, "length_penalty": 1.0}
    beyond = server.client.predict_json(MODEL, {"text": "live", "beam_width": 33})
    assert beyond.status == 400
    assert beyond.body["message"] == ("beam_width must be a whole number from 1 to 32 (this model's search.maxima.beam_width), "
                                      "got 33")


def test_a_batch_mixing_bad_requests_answers_each_on_its_own(server):
    calls = [
        lambda: server.client.predict_bytes(MODEL, b"quixotic", "text/plain"),
        lambda: server.client.predict_bytes(MODEL, "naïve".encode(), "text/plain"),
        lambda: server.client.predict_json(MODEL, {"text": ["tomato", "nvidia"], "num_candidates": 2}),
        lambda: server.client.predict_json(MODEL, {"text": "word", "beam_width": 2, "num_candidates": 5}),
        lambda: server.client.predict_bytes(MODEL, b"a" * 33, "text/plain"),
        lambda: server.client.predict_json(MODEL, {"text": "tomato", "beam_width": 1, "num_candidates": 1}),
    ]
    mark = len(MIXED.findall(server.log_text()))
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 400, 200, 400, 413, 200]
    assert "outside this model's input symbols: 'ï'" in replies[1].body["message"]
    assert "num_candidates 5 is more than beam_width 2" in replies[3].body["message"]
    assert "budgets.text_chars" in replies[4].body["message"]
    alone = [call() for call in (calls[0], calls[2], calls[5])]
    for together, single in zip((replies[0], replies[2], replies[5]), alone, strict=True):
        assert same_json(together.body, single.body, 1e-4)
    batches = [b for b in MIXED.findall(server.log_text())[mark:] if int(b[1]) and int(b[2])]
    assert batches, "no batch mixed good and bad requests: the test did not test batching"
    assert server.client.predict_bytes(MODEL, b"read", "text/plain").status == 200  # the worker is still serving


def test_describe_shows_the_search_and_the_symbols(server):
    described = server.client.describe(MODEL)
    spec = described["spec"] if "spec" in described else described[0]["customizedMetadata"]["spec"]
    assert spec["search"]["maxima"] == {"beam_width": 32, "num_candidates": 32, "max_length": 32, "length_penalty": 2.0}
    assert spec["symbols"]["input"]["map"] == {"'": "<unk>", "-": "<unk>", ".": "<unk>"}
    assert spec["metadata"]["quality"]["greedy_equals_original_on"] == 2992


@pytest.mark.parametrize("engine", ["torchserve", "kserve_runtime"])
def test_tritonclient_gives_options_as_parameters_and_reads_the_typed_outputs(server, kserve_runtime, engine):
    if engine == "torchserve":
        url, token = server.url("inference"), server.client.token("inference")
    else:
        url, token = kserve_runtime.url(), kserve_runtime.token()
    client = triton.InferenceServerClient(url.removeprefix("http://"))
    words = triton.InferInput("text", [2], "BYTES")
    words.set_data_from_numpy(np.array([b"read", b"live"], dtype=np.object_))
    result = client.infer(MODEL, [words], parameters={"beam_width": 3, "num_candidates": 2},
                          headers={"Authorization": f"Bearer {token}"})
    found = result.as_numpy("output")
    assert found.shape == (2, 2) and [x.decode() if isinstance(x, bytes) else x for x in found[0]] == ["R IY1 D", "R EH1 D"]
    scores = result.as_numpy("score")
    assert scores.shape == (2, 2) and scores.dtype == np.float32 and (scores[:, 0] >= scores[:, 1]).all()
    answers = [json.loads(a) for a in result.as_numpy("answer")]
    assert answers[1]["search"]["beam_width"] == 3


def test_the_kserve_runtime_answers_as_torchserve(server, kserve_runtime):
    body = json.dumps({"text": ["read", "kubernetes"], "beam_width": 5, "num_candidates": 3, "length_penalty": 0.5}).encode()
    headers = {"Content-Type": "application/json"}
    ts = requests.post(server.url("inference") + f"/predictions/{MODEL}", data=body, timeout=30,
                       headers={**headers, "Authorization": f"Bearer {server.client.token('inference')}"})
    ks = requests.post(kserve_runtime.url() + f"/predictions/{MODEL}", data=body, timeout=30,
                       headers={**headers, "Authorization": f"Bearer {kserve_runtime.token()}"})
    assert ts.status_code == ks.status_code == 200 and same_json(ts.json(), ks.json(), 1e-5)
    v1 = requests.post(kserve_runtime.url() + f"/v1/models/{MODEL}:predict", timeout=30,
                       json={"instances": ["live", {"text": "read", "beam_width": 2, "num_candidates": 2}, "x1"]},
                       headers={"Authorization": f"Bearer {kserve_runtime.token()}"})
    assert v1.status_code == 400 and "instances[2]: the text: 1 symbol(s) outside" in v1.json()["error"]


def test_offline_prediction_equals_the_server(server, store, tmp_path):
    inputs = tmp_path / "words"
    inputs.mkdir()
    for word in ("record", "tensorflow", "quinoa"):
        (inputs / f"{word}.txt").write_text(word)
    (inputs / "greedy.json").write_text(json.dumps({"text": ["object", "present"], "beam_width": 1, "num_candidates": 1}))
    (inputs / "bad.txt").write_text("two words")
    out = tmp_path / "predictions.jsonl"
    predict_main([str(store / f"{MODEL}.mar"), str(inputs), "--output", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 5
    for line in lines:
        path = inputs / line["input"].split("/")[-1]
        kind = "application/json" if path.suffix == ".json" else "text/plain"
        served = server.client.predict_bytes(MODEL, path.read_bytes(), kind)
        assert line["status"] == served.status and same_json(line["response"], served.body, 1e-4), line["input"]
    assert sorted(line["status"] for line in lines) == [200, 200, 200, 200, 400]


def test_the_recorded_quality_is_what_evaluate_measures_through_the_archive(store):
    """The command the docs give for WER/PER re-measures the archive and finds the figures its manifest records."""
    import subprocess

    run = subprocess.run([sys.executable, str(REPO / "examples" / "g2p_en" / "evaluate.py"), str(store / f"{MODEL}.mar")],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert re.search(r"held_out +992 words +greedy +WER 0\.\d{3} +PER 0\.\d{3}", run.stdout)
    assert run.stdout.rstrip().endswith("recorded in the manifest's metadata.quality: the same figures"), run.stdout
