"""Text preprocessing and request parsing, without a model."""

from __future__ import annotations

import json

import pytest
import torch

from handlers.errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from handlers.payload import Payload, text_input
from handlers.text import pad_batch, pool


def texts(value, content_type="application/json"):
    return text_input(Payload({"body": value}, {"body": content_type}), max_texts=3)


@pytest.mark.parametrize(
    ("value", "content_type", "expected"),
    [
        ("plain text", "text/plain", (["plain text"], True)),            # TorchServe decoded text/* already
        (b"caf\xc3\xa9", "text/plain; charset=utf-8", (["café"], True)),
        ("a string", "application/json", (["a string"], True)),          # parsed JSON string
        (["one", "two"], "application/json", (["one", "two"], False)),
        (json.dumps(["x"]).encode(), "application/json; charset=utf-8", (["x"], False)),
    ],
)
def test_accepted_text_forms(value, content_type, expected):
    assert texts(value, content_type) == expected


@pytest.mark.parametrize(
    ("value", "content_type", "error", "fragment"),
    [
        ("  \n", "text/plain", BadInput, "the text is empty or only whitespace"),
        (b"\xff\xfe", "text/plain", BadInput, "not valid UTF-8 (byte 0"),
        (b"abc", "application/octet-stream", UnsupportedMediaType, "is not text"),
        ({"text": "a"}, "application/json", BadInput, "got a JSON dict"),
        ([], "application/json", BadInput, "the JSON list is empty"),
        (["a", ""], "application/json", BadInput, "texts[1] is empty"),
        (["a", 1], "application/json", BadInput, "texts[1] is a JSON int"),
        (["a"] * 4, "application/json", PayloadTooLarge, "4 texts in one request, more than this model's limit of 3"),
    ],
)
def test_refused_text_forms(value, content_type, error, fragment):
    with pytest.raises(error) as caught:
        texts(value, content_type)
    assert fragment in str(caught.value)


def test_pad_batch_right_pads_to_the_longest():
    ids, mask = pad_batch([(5, 6, 7), (8,)], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_pooling_ignores_padding():
    tokens = torch.tensor([[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]])  # last row is padding
    assert pool(tokens, 2, "mean", normalize=False).tolist() == [2.0, 3.0]
    assert pool(tokens, 2, "cls", normalize=False).tolist() == [1.0, 2.0]
    assert pool(tokens, 2, "max", normalize=False).tolist() == [3.0, 4.0]
    assert float(torch.linalg.norm(pool(tokens, 2, "mean", normalize=True))) == pytest.approx(1.0)
