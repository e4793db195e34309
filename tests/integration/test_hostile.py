"""No request content can fail another request: arbitrary bodies, content types, fields and headers, thrown
by hypothesis into mixed batches for every task, through the offline path (TorchServe's own Service and
Context, the archive's own handler code) on the example archives. Every request gets its own answer, none
a 5xx, and the good ones of each batch answer exactly as they do alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markit.core.golden import same_json
from markit.offline import LocalArchive, LocalRequest
from markit.offline.local_archive import content_type_for

pytestmark = pytest.mark.integration

TASKS = {"image_classification": "efficientnet_lite0", "convention": "digits", "text_embedding": "minilm_embeddings",
         "text_classification": "minilm_topics", "regression": "weather_seattle", "seq2seq": "g2p_en"}
FLOAT_NOISE = 1e-5  # CPU kernels sum in a batch-size-dependent order

CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "text/plain; charset=latin-1",
                     "image/png", "image/jpeg", "application/octet-stream", "", "multipart/form-data",
                     "application/x-www-form-urlencoded", "application/x-npy"]),
    st.text(max_size=30),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
KSERVE = st.one_of(
    st.builds(lambda v: {"instances": v}, JSON_VALUES),
    st.builds(lambda v: {"inputs": v}, JSON_VALUES),
    st.builds(lambda name, shape, datatype, data: {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]},
              st.text(max_size=8), st.lists(st.integers(-2, 70), max_size=4),
              st.sampled_from(["FP32", "INT64", "BYTES", "BOOL", "FP16", "UINT8", "nonsense"]), JSON_VALUES),
)
BODIES = st.one_of(
    st.binary(max_size=3000),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    KSERVE.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),  # nested past any decoder's depth
    st.integers(1, 3000).map(lambda depth: b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"),
)
FIELD_NAMES = st.sampled_from(["body", "data", "image", "top_k", "instances", "x"])
HEADERS = st.dictionaries(st.text(st.characters(codec="ascii", exclude_characters="\r\n"), min_size=1, max_size=12)
                          .filter(lambda name: name.lower() != "describe"),  # describe on the inference path: issue 12, item 4
                          st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=20), max_size=3)
HOSTILE = st.builds(
    lambda fields, headers: LocalRequest(fields={name: body for name, (body, _) in fields.items()},
                                         content_types={name: ctype for name, (_, ctype) in fields.items()}, headers=headers),
    st.dictionaries(FIELD_NAMES, st.tuples(BODIES, CONTENT_TYPES), min_size=1, max_size=2),
    HEADERS,
)


@pytest.fixture(scope="module", params=list(TASKS.items()), ids=list(TASKS))
def served(request, store: Path) -> Iterator[tuple[LocalArchive, LocalRequest, object]]:
    """An example archive of each task, its first golden input as the good request, and that input's answer alone."""
    task, name = request.param
    with LocalArchive(store / f"{name}.mar") as archive:
        assert archive.manifest["spec"]["task"] == task
        golden = archive.directory / archive.manifest["spec"]["golden"][0]["input"]
        good = LocalRequest.raw(golden.read_bytes(), content_type_for(golden))
        [alone] = archive.predict([good])
        assert alone.status == 200
        yield archive, good, alone.body


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hostile=st.lists(HOSTILE, min_size=1, max_size=4), data=st.data())
def test_hostile_requests_harm_no_one_in_their_batch(served, hostile, data):
    archive, good, expected = served
    batch = list(hostile)
    slots = sorted(data.draw(st.lists(st.integers(0, len(batch)), min_size=1, max_size=2), label="good at"))
    for offset, slot in enumerate(slots):
        batch.insert(slot + offset, good)
    responses = archive.predict(batch)
    assert len(responses) == len(batch)
    for request, response in zip(batch, responses, strict=True):
        if request is good:
            assert response.status == 200 and same_json(expected, response.body, FLOAT_NOISE), response.body
        else:
            assert response.status == 200 or 400 <= response.status < 500, (request, response)
            if response.status != 200:
                assert isinstance(response.body, dict) and response.body.get("message"), response.body
