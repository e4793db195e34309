from __future__ import annotations

import base64
import json

import pytest

from markit.core.errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from markit.core.payload import MAX_JSON_BYTES, MAX_JSON_DEPTH, Payload, binary_input, decode_json_bytes, parse_int_option

PNG = b"\x89PNG\r\n\x1a\nrest"
B64 = base64.b64encode(PNG).decode()


def extract(fields, types=None):
    return binary_input(Payload(fields, types or {}), data_keys=("image",), option_keys=("top_k",))


@pytest.mark.parametrize(
    ("fields", "types", "options"),
    [
        ({"body": PNG}, {"body": "image/png"}, {}),
        ({"body": bytearray(PNG)}, {"body": ""}, {}),
        ({"data": PNG}, {"data": "application/octet-stream"}, {}),
        ({"image": PNG, "top_k": b"2"}, {"image": "image/png", "top_k": ""}, {"top_k": b"2"}),     # multipart
        ({"body": {"image": B64, "top_k": 2}}, {"body": "application/json"}, {"top_k": 2}),       # parsed JSON
        ({"body": {"data": "data:image/png;base64," + B64}}, {"body": "application/json"}, {}),   # data URL
        ({"body": B64}, {"body": "application/json"}, {}),                                        # a JSON string
        ({"body": b'{"image": "%s"}' % B64.encode()}, {"body": "application/json; charset=utf-8"}, {}),
    ],
)
def test_accepted_forms(fields, types, options):
    found = extract(fields, types)
    assert found.data == PNG
    assert dict(found.options) == options


@pytest.mark.parametrize(
    ("fields", "types", "error", "fragment"),
    [
        ({"body": b""}, {"body": "image/png"}, BadInput, "empty"),
        ({"body": "some text"}, {"body": "text/plain"}, UnsupportedMediaType, "text/plain"),
        ({"body": PNG}, {"body": "application/xml"}, UnsupportedMediaType, "application/xml"),
        ({"body": {"image": "***"}}, {"body": "application/json"}, BadInput, "not valid base64"),
        ({"body": {"image": ""}}, {"body": "application/json"}, BadInput, "zero bytes"),
        ({"body": {"image": 5}}, {"body": "application/json"}, BadInput, "must be a base64 string"),
        ({"body": {"imgae": B64}}, {"body": "application/json"}, BadInput, "unknown JSON key 'imgae'"),
        ({"body": [B64, B64]}, {"body": "application/json"}, BadInput, "JSON list"),
        ({"body": b"{not json"}, {"body": "application/json; charset=utf-8"}, BadInput, "not valid JSON"),
        ({"image": PNG, "topk": b"1"}, {}, BadInput, "unknown field 'topk'"),
        ({"image": PNG, "data": PNG}, {}, BadInput, "exactly one data field"),
        ({"top_k": b"1"}, {}, BadInput, "found none"),
    ],
)
def test_refused_forms_name_the_problem(fields, types, error, fragment):
    with pytest.raises(error, match=fragment):
        extract(fields, types)


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("2", 2), (b"5", 5), (" 1 ", 1)])
def test_int_option(value, expected):
    assert parse_int_option("top_k", value, 1, 5, "limit") == expected


@pytest.mark.parametrize("value", [0, 6, "x", True, 2.5, None, b"-1"])
def test_int_option_refused(value):
    with pytest.raises(BadInput, match=r"top_k must be an integer from 1 to 5 \(limit\)"):
        parse_int_option("top_k", value, 1, 5, "limit")


# -- JSON limits: depth and size, on bytes and on what TorchServe already parsed -----------------------
def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 900, 5000])  # 5000: deeper than Python's decoder goes
def test_json_nested_too_deep_is_a_400_naming_the_limit(depth):
    with pytest.raises(BadInput, match=f"JSON nested more than {MAX_JSON_DEPTH} levels deep, the limit"):
        decode_json_bytes("body", nested(depth), "application/json")
    if depth < 990:  # TorchServe parsed it already (its own decoder stops near 1000 and forwards the bytes)
        with pytest.raises(BadInput, match="the limit"):
            decode_json_bytes("body", json.loads(nested(depth)), "application/json")


def test_json_at_the_depth_limit_and_wide_json_are_fine():
    assert decode_json_bytes("body", nested(MAX_JSON_DEPTH), "application/json") is not None
    wide = {"inputs": [{"data": [[0.5] * 224] * 224}]}
    assert decode_json_bytes("body", json.dumps(wide).encode(), "application/json; charset=utf-8") == wide


def test_json_over_the_size_limit_is_a_413_naming_it():
    with pytest.raises(PayloadTooLarge, match=f"more than the limit of {MAX_JSON_BYTES}"):
        decode_json_bytes("body", b" " * (MAX_JSON_BYTES + 1), "application/json")
