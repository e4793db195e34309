"""A compressed request body is a 415 naming ``Content-Encoding``, alone in its batch, through the engine-free core
and through TorchServe's adapter (TorchServe passes every request header to the handler)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_torchserve_adapter import batch, read

from markit.core.batch import BatchCore
from markit.core.exchange import Request
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.engines.torchserve.adapter import TorchServeAdapter
from markit.tasks.regression.handler import Regressor

from helpers import complete_spec

SPEC = complete_spec({"name": "forecast", "version": "1.0", "task": "regression",
        "features": [{"name": "x", "shape": [], "unit": "m"}], "outputs": [{"name": "same", "unit": "m"}], "guards": [],
        "budgets": {"request_bytes": 1 << 20, "rows": 8}})
BODY = json.dumps({"x": 2}).encode()


@pytest.fixture
def handler(tmp_path: Path) -> BatchCore:
    archive = UnpackedArchive(directory=tmp_path, manifest={"schema_version": "1.3", "spec": SPEC, "identity": "sha256:t", "files": {}})
    return BatchCore(Regressor(archive, LoadedModel(forward=lambda rows: rows)))


def request(body: bytes, headers: dict[str, str]) -> Request:
    return Request(Payload({"body": body}, {"body": "application/json"}), "r", headers)


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "br", "deflate", "gzip, identity"])
def test_a_compressed_body_is_a_415_naming_the_header_and_its_batch_mate_is_answered(handler, encoding):
    compressed, plain = handler.answer([request(gzip.compress(BODY), {"content-encoding": encoding}), request(BODY, {})])
    assert (compressed.status, compressed.body["type"]) == (415, "UnsupportedMediaType")
    assert compressed.body["message"].startswith(f"Content-Encoding: {encoding}: compressed request bodies are not accepted")
    assert plain.status == 200 and plain.body["prediction"] == {"same": 2.0}


@pytest.mark.parametrize("headers", [{}, {"content-encoding": "identity"}, {"content-encoding": " Identity "}])
def test_an_uncompressed_body_is_answered(handler, headers):
    [answer] = handler.answer([request(BODY, headers)])
    assert answer.status == 200


def test_torchserves_adapter_sees_the_header_and_refuses_the_compressed_request_alone(handler):
    adapter = TorchServeAdapter(handler)
    inputs, context = batch((gzip.compress(BODY), {"Content-Encoding": "gzip"}), (BODY, {}))
    bodies = read(adapter.handle(inputs, context))
    assert [context.get_response_status(i)[0] for i in range(2)] == [415, 200]
    assert "Content-Encoding: gzip" in bodies[0]["message"]
