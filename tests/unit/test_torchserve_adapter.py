"""TorchServe's thin adapter over the engine-free core, with TorchServe's own Context and its own parsing of
the worker protocol (``Service.retrieve_data_for_inference``), no Java: what it reads from the context and
what it writes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ts.context import Context
from ts.service import Service

from markit.core.batch import BatchCore
from markit.core.budgets import Budgets
from markit.core.errors import BadInput
from markit.core.exchange import Request, Response
from markit.core.loading import LoadedModel
from markit.core.unpacked import UnpackedArchive
from markit.engines.torchserve import adapter as torchserve
from markit.engines.torchserve import envelope
from markit.engines.torchserve.adapter import TorchServeAdapter
from markit.protocols.codec import V1, V2, error_response
from markit.protocols.routing import InstanceRules
from markit.tasks.regression.handler import Regressor

from helpers import complete_spec

SPEC = complete_spec({"name": "forecast", "version": "3.1", "task": "regression",
        "features": [{"name": "x", "shape": [], "unit": "m"}], "outputs": [{"name": "same", "unit": "m"}], "guards": [],
        "budgets": {"request_bytes": 1 << 20, "rows": 8}})


class Recording(BatchCore):
    """The batch core, remembering the requests the adapter handed it."""

    seen: list[Request]

    def answer(self, requests, *args, **kwargs) -> list[Response]:
        self.seen = list(requests)
        return super().answer(requests, *args, **kwargs)


@pytest.fixture
def adapter(tmp_path: Path) -> TorchServeAdapter:
    archive = UnpackedArchive(directory=tmp_path, manifest={"schema_version": "1.3", "spec": SPEC, "identity": "sha256:t", "files": {}})
    return TorchServeAdapter(Recording(Regressor(archive, LoadedModel(forward=lambda rows: rows))))


def batch(*bodies: tuple[bytes | None, dict[str, str]]) -> tuple[list[dict], Context]:
    """What a worker gets for these (body, headers) requests (None: no body, as TorchServe's management
    describe call): TorchServe's own parsing and Context."""
    wire = [{"requestId": f"id-{i}".encode(),
             "parameters": [] if body is None else [{"name": "body", "contentType": "application/json", "value": body}],
             "headers": [{"name": k.encode(), "value": v.encode()} for k, v in headers.items()]}
            for i, (body, headers) in enumerate(bodies)]
    headers, inputs, request_ids = Service.retrieve_data_for_inference(wire)
    context = Context("served-as", ".", {}, len(bodies), None, None)
    context.request_ids, context.request_processor = request_ids, headers
    return inputs, context


def read(bodies: list) -> list:
    """The bodies as a client reads them: the adapter sends JSON bodies encoded (compact UTF-8)."""
    assert all(isinstance(body, bytes) for body in bodies)
    return [json.loads(body) for body in bodies]


def test_statuses_ids_headers_and_the_served_name_cross_the_boundary(adapter):
    good = json.dumps({"x": 2}).encode()
    v2 = json.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [5]}]}).encode()
    inputs, context = batch((good, {"X-Trace": "abc"}), (b'{"y": 1}', {}), (v2, {}))
    bodies = read(adapter.handle(inputs, context))
    assert [context.get_response_status(i)[0] for i in range(3)] == [200, 400, 200]
    assert [context.get_response_content_type(i) for i in range(3)] == ["application/json"] * 3  # refusals included
    assert bodies[0]["prediction"] == {"same": 2.0} and "y: unknown feature" in bodies[1]["message"]
    assert (bodies[2]["model_name"], bodies[2]["model_version"], bodies[2]["id"]) == ("served-as", "3.1", "id-2")
    first = adapter.core.seen[0]
    assert first.request_id == "id-0" and first.headers["x-trace"] == "abc"
    assert first.payload.content_types == {"body": "application/json"}


def test_the_management_apis_describe_call_gets_the_public_description(adapter):
    inputs, context = batch((None, {"describe": "True"}))
    assert adapter.handle(inputs, context) == [{"schema_version": "1.3", "identity": "sha256:t", "spec": SPEC, "files_verified": 0}]


def test_a_describe_header_on_a_request_with_a_body_is_inference_and_harms_no_batch_mate(adapter):
    inputs, context = batch((json.dumps({"x": 1}).encode(), {"describe": "True"}), (json.dumps({"x": 2}).encode(), {}))
    assert [body["prediction"] for body in read(adapter.handle(inputs, context))] == [{"same": 1.0}, {"same": 2.0}]


def test_the_heap_is_trimmed_once_before_the_batch_after_a_large_one(adapter, monkeypatch):
    trims = []
    monkeypatch.setattr(torchserve, "_trim_heap", lambda: trims.append(1))
    small = json.dumps({"x": 1}).encode()
    large = b" " * torchserve.TRIM_AFTER_BYTES + small  # over the request_bytes budget: a 413, still read by TorchServe
    parsed = {"Content-Length": str(torchserve.TRIM_AFTER_BYTES)}  # a JSON body TorchServe parsed: its declared size
    for body, headers, expected in [(small, {}, []), (large, {}, []), (small, {}, [1]), (small, {}, [1]), (small, parsed, [1]),
                                    (small, {}, [1, 1])]:
        inputs, context = batch((body, headers))
        adapter.handle(inputs, context)
        assert trims == expected


def test_the_service_envelopes_rows_are_read_as_the_instances_of_one_request():
    rules = InstanceRules(Budgets(request_bytes=1 << 20, instances=64))
    v1 = envelope.read(V1, ["a", {"b64": "eA=="}], rules)
    assert [(p.fields["body"], p.content_types["body"]) for p in v1.payloads] == [("a", "application/json"), (b"x", "")]
    # TorchServe's kservev2 envelope replaced BYTES data by its first element and reshaped numeric data
    v2 = envelope.read(V2, [{"name": "t", "shape": [1], "datatype": "BYTES", "data": "a"}], rules)
    assert [(p.fields["body"], p.content_types["body"]) for p in v2.payloads] == [(b"a", "")]
    numeric = envelope.read(V2, [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}], rules)
    assert [p.fields["body"].tolist() for p in numeric.payloads] == [[1, 2], [3, 4]]
    with pytest.raises(BadInput, match="found no 'instances' in the request"):
        envelope.read(V1, None, rules)
    with pytest.raises(BadInput, match=r"has shape \[2\], but TorchServe's kservev2 envelope passes only the first element"):
        envelope.read(V2, [{"name": "t", "shape": [2], "datatype": "BYTES", "data": "a"}], rules)


def test_the_service_envelopes_get_the_item_they_wrap():
    answers = [{"label": "cat"}, {"label": "dög"}]
    assert envelope.result(V1, answers) == answers
    assert [[json.loads(text) for text in item] for item in envelope.result(V2, answers)] == [answers]
    error = error_response({"code": 400, "type": "BadInput", "message": "instances[1]: bad"})
    assert envelope.failure(V1, {"code": 400, "type": "BadInput", "message": "instances[1]: bad"}) == [error]
    assert envelope.failure(V2, {"code": 400, "type": "BadInput", "message": "instances[1]: bad"}) == [json.dumps(error)]
