"""One archive, two engines: every example archive served by TorchServe and by the KServe runtime (no Java)
gets the same requests, and answers with the same statuses and bodies (floats within 1e-5).

Golden inputs of every archive, every bad-input probe of the reliability report, KServe v1 and v2 bodies,
mixed batches (a probe sent with three good requests at the same moment). Then the standard clients on their
defaults against the KServe runtime: tritonclient over REST and gRPC, the kserve SDK over REST (v1, v2) and
gRPC, with the token and without it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import skimage
import tritonclient.http as triton

from benchmarks.reliability import Target, targets_in
from markit.core.golden import same_json
from markit.offline.local_archive import content_type_for

pytestmark = pytest.mark.integration

NOISE = 1e-5  # a batch sums in another order than one request alone
TARGETS = ("efficientnet_lite0", "digits", "minilm_embeddings", "minilm_topics", "weather_seattle", "g2p_en", "faces",
           "digit_boxes", "digit_segments", "read_number", "phonemes", "forecast")
GRPC_CLIENTS = Path(__file__).with_name("grpc_clients.py")
MIXED = re.compile(r"batch of (\d+) requests: (\d+) answered, (\d+) refused")


@pytest.fixture(scope="module")
def targets(store: Path) -> list[Target]:
    return targets_in([store / f"{name}.mar" for name in TARGETS])


def post(url: str, token: str, body: bytes, content_type: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": content_type} if content_type else {})}
    reply = requests.post(url, data=body, headers=headers, timeout=60)
    try:
        return reply.status_code, reply.json()
    except ValueError:
        return reply.status_code, reply.text


def both(server, kserve_runtime, path: str, body: bytes, content_type: str | None) -> tuple[tuple[int, Any], tuple[int, Any]]:
    return (post(server.url("inference") + path, server.client.token("inference"), body, content_type),
            post(kserve_runtime.url() + path, kserve_runtime.token(), body, content_type))


def without_id(body: Any) -> Any:
    """A v2 answer without its ``id`` (each engine names an id-less request itself, a fresh UUID), and with the
    JSON each BYTES output carries read, so that its numbers compare within NOISE as the typed outputs' do (two
    batches of different sizes may round a sixth decimal differently)."""
    if not isinstance(body, dict):
        return body
    outputs = [{**output, "data": [_json_or_text(item) for item in output["data"]]} if output.get("datatype") == "BYTES"
               else output for output in body.get("outputs", [])]
    return {key: value for key, value in {**body, "outputs": outputs}.items() if key != "id" and (key != "outputs" or outputs)}


def _json_or_text(item: Any) -> Any:
    try:
        return json.loads(item)
    except (TypeError, ValueError):
        return item


def test_every_golden_input_of_every_archive_gets_the_same_answer_on_both_engines(server, kserve_runtime, store):
    compared, differing = 0, []
    for path in sorted(store.glob("*.mar")):
        with zipfile.ZipFile(path) as archive:
            spec = json.loads(archive.read("manifest.json"))["spec"]
            inputs = [(example["input"], archive.read(example["input"])) for example in spec["golden"]]
        for name, data in inputs:
            ts, ks = both(server, kserve_runtime, f"/predictions/{spec['name']}", data, content_type_for(Path(name)))
            compared += 1
            if ts[0] != 200 or ks[0] != ts[0] or not same_json(ts[1], ks[1], NOISE):
                differing.append(f"{spec['name']} {name}: TorchServe {ts[0]} {str(ts[1])[:120]}\n"
                                 f"    KServe runtime {ks[0]} {str(ks[1])[:120]}")
    assert compared >= 15 and not differing, "\n".join(differing)


def test_every_bad_input_gets_the_same_status_and_message_on_both_engines(server, kserve_runtime, targets):
    compared, differing = 0, []
    for target in targets:
        for probe in target.probes():
            ts, ks = both(server, kserve_runtime, f"/predictions/{target.model}", probe.body, probe.content_type)
            compared += 1
            if not 400 <= ts[0] < 500 or ts != ks:
                differing.append(f"{target.model} {probe.kind}: TorchServe {ts[0]} {str(ts[1])[:150]}\n"
                                 f"    KServe runtime {ks[0]} {str(ks[1])[:150]}")
    assert compared >= 190 and not differing, f"{len(differing)} of {compared} differ:\n" + "\n".join(differing)


KSERVE_BODIES = [
    ("minilm_topics", "/v1/models/minilm_topics:predict", {"instances": ["a cheap flight to Lisbon", "the match ended 2-1"]}),
    ("minilm_embeddings", "/v2/models/minilm_embeddings/infer",
     {"id": "r-7", "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["tea", "coffee"]}]}),
    ("weather_seattle", "/v2/models/weather_seattle/infer",
     {"inputs": [{"name": "temperature_history", "shape": [1, 24], "datatype": "FP32", "data": [[50.0 + n / 4 for n in range(24)]]}]}),
    ("minilm_topics", "/v1/models/minilm_topics:predict", {"instances": ["fine", 7]}),  # instance 1 is refused
    ("minilm_embeddings", "/v2/models/minilm_embeddings/infer", {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                                                           "data": ["one"]}]}),  # a shape the data lacks
]


@pytest.mark.parametrize(("model", "path", "body"), KSERVE_BODIES, ids=[f"{path}#{n}" for n, (_, path, _) in enumerate(KSERVE_BODIES)])
def test_kserve_v1_and_v2_bodies_get_the_same_answers_on_both_engines(server, kserve_runtime, model, path, body):
    raw = json.dumps(body).encode()
    for content_type in ("application/json", None):  # tritonclient sends its JSON without a Content-Type
        ts, ks = both(server, kserve_runtime, path, raw, content_type)
        assert ts[0] == ks[0], (ts, ks)
        assert same_json(without_id(ts[1]), without_id(ks[1]), NOISE), (ts, ks)
        if ts[0] == 200 and "id" in body:
            assert ts[1]["id"] == ks[1]["id"] == body["id"]


def test_a_probe_sent_with_three_good_requests_forms_a_mixed_batch_and_harms_none_on_the_kserve_runtime(server, kserve_runtime, targets):
    """The KServe runtime's batches mix good and bad requests as TorchServe's do: each gets its own answer."""
    token, url = kserve_runtime.token(), kserve_runtime.url()
    mark = len(MIXED.findall(kserve_runtime.log_tail(100000)))
    differing = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for target in targets:
            reference = post(server.url("inference") + f"/predictions/{target.model}", server.client.token("inference"),
                             target.good, target.content_type)
            for probe in target.probes()[::5]:
                expected = post(server.url("inference") + f"/predictions/{target.model}", server.client.token("inference"),
                                probe.body, probe.content_type)
                start = threading.Barrier(4)

                def send(item: tuple[bytes, str], model: str = target.model, barrier: threading.Barrier = start) -> tuple[int, Any]:
                    barrier.wait()
                    return post(f"{url}/predictions/{model}", token, *item)

                sent = [(probe.body, probe.content_type)] + [(target.good, target.content_type)] * 3
                bad, *good = list(pool.map(send, sent))
                if bad != expected or any(g[0] != 200 or not same_json(g[1], reference[1], 1e-4) for g in good):
                    differing.append(f"{target.model} {probe.kind}: {bad[0]} vs {expected[0]}; mates {[g[0] for g in good]}")
    mixed = [batch for batch in MIXED.findall(kserve_runtime.log_tail(100000))[mark:] if int(batch[1]) and int(batch[2])]
    assert not differing, "\n".join(differing)
    assert mixed, "no batch mixed good and bad requests: the test did not test batching"


# -- standard clients on the KServe runtime ----------------------------------------------------------
def coffee() -> bytes:
    return (Path(skimage.data_dir) / "coffee.png").read_bytes()


def test_tritonclient_over_rest_gets_the_answers_predictions_gives(kserve_runtime):
    client = triton.InferenceServerClient(kserve_runtime.url().removeprefix("http://"))
    headers = {"Authorization": f"Bearer {kserve_runtime.token()}"}
    assert client.is_server_ready() and client.is_model_ready("efficientnet_lite0", headers=dict(headers))
    value = triton.InferInput("image", [1], "BYTES")
    value.set_data_from_numpy(np.array([coffee()], dtype=np.object_))
    [got] = [json.loads(item) for item in client.infer("efficientnet_lite0", [value], headers=dict(headers)).as_numpy("answer")]
    expected = kserve_runtime.client.predict_bytes("efficientnet_lite0", coffee(), "image/png").body
    assert got["predictions"][0]["label"] == "espresso" and same_json(got, expected, NOISE)


def grpc_cases() -> list[dict[str, Any]]:
    history = [50.0 + n / 4 for n in range(24)]
    return [
        {"model": "efficientnet_lite0", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                                    "bytes_b64": [base64.b64encode(coffee()).decode()]}]},
        {"model": "minilm_embeddings", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                                   "bytes_b64": [base64.b64encode(text).decode() for text in (b"tea", b"coffee")]}]},
        {"model": "weather_seattle", "inputs": [{"name": "temperature_history", "datatype": "FP32", "shape": [1, 24], "data": [history]}]},
        {"model": "efficientnet_lite0", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                                    "bytes_b64": [base64.b64encode(b"not an image").decode()]}]},
    ]


def test_tritonclient_over_grpc_gets_the_answers_predictions_gives_and_refusals_with_their_messages(kserve_runtime):
    done = subprocess.run([sys.executable, str(GRPC_CLIENTS), kserve_runtime.grpc_address, kserve_runtime.token()],
                          input=json.dumps(grpc_cases()), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["server_ready"] and all(report["models_ready"].values())
    assert report["metadata"]["weather_seattle"]["outputs"][0]["name"] == "answer"
    assert report["without_token"]["code"] == "StatusCode.UNAUTHENTICATED"
    assert report["unload"]["code"] == "StatusCode.UNIMPLEMENTED"  # no repository API: the store is fixed at start
    assert [output["name"] for output in report["metadata"]["efficientnet_lite0"]["outputs"]] == ["answer", "label", "probability"]
    image, texts, forecast, refused = report["results"]
    client = kserve_runtime.client
    expected_image = client.predict_bytes("efficientnet_lite0", coffee(), "image/png").body
    assert same_json(image["answers"][0], expected_image, NOISE)
    assert image["typed"]["label"][0] == [p["label"] for p in expected_image["predictions"]]
    assert same_json(image["typed"]["probability"][0], [p["probability"] for p in expected_image["predictions"]], NOISE)
    assert same_json(texts["typed"]["embedding"], [answer["embedding"] for answer in texts["answers"]], NOISE)
    assert same_json(forecast["typed"]["temperature_plus_1h"], [forecast["answers"][0]["prediction"]["temperature_plus_1h"]], NOISE)
    expected_texts = [client.predict_bytes("minilm_embeddings", text, "text/plain").body for text in (b"tea", b"coffee")]
    assert same_json(texts["answers"], expected_texts, NOISE)
    history = grpc_cases()[2]["inputs"][0]["data"][0]
    assert same_json(forecast["answers"][0], client.predict_json("weather_seattle", {"temperature_history": history}).body, NOISE)
    assert refused["code"] == "StatusCode.INVALID_ARGUMENT" and "is not an image format Pillow can read" in refused["message"]


def test_the_kserve_sdk_v1_v2_and_grpc_clients_get_the_answers_predictions_gives(kserve_runtime):
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

    headers = {"Authorization": f"Bearer {kserve_runtime.token()}"}
    texts = ["a cheap flight to Lisbon", "the match ended 2-1"]

    async def ask() -> tuple[Any, Any, Any]:
        v1 = InferenceRESTClient(RESTConfig(protocol="v1"))
        v2 = InferenceRESTClient(RESTConfig(protocol="v2"))
        grpc_client = InferenceGRPCClient(kserve_runtime.grpc_address)
        request = InferRequest("minilm_topics", [InferInput("text", [2], "BYTES", data=texts)])
        try:
            by_v1 = await v1.infer(kserve_runtime.url(), {"instances": texts}, "minilm_topics", headers=headers)
            by_v2 = await v2.infer(kserve_runtime.url(), request, "minilm_topics", headers=headers)
            by_grpc = await grpc_client.infer(InferRequest("minilm_topics", [InferInput("text", [2], "BYTES", data=texts)]),
                                              headers=[("authorization", headers["Authorization"])])
        finally:
            await v1.close()
            await v2.close()
            await grpc_client.close()
        return by_v1, by_v2, by_grpc

    by_v1, by_v2, by_grpc = asyncio.run(ask())
    expected = [kserve_runtime.client.predict_json("minilm_topics", text).body for text in texts]
    assert same_json(by_v1["predictions"], expected, NOISE)
    for response in (by_v2, by_grpc):
        got = [json.loads(item) for item in response.outputs[0].as_numpy()]
        assert same_json(got, expected, NOISE)
