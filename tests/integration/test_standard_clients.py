"""Standard Open Inference Protocol clients on their default settings against the real TorchServe: tritonclient
sends binary tensors (and JSON ones without a Content-Type), and gets the answers /predictions gives."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import skimage
import tritonclient.http as triton
from metadata_requests import tensors
from tritonclient.utils import InferenceServerException

from markit.core.golden import same_json

pytestmark = pytest.mark.integration
NOISE = 1e-5  # a batch of two sums in another order than one request alone


@pytest.fixture(scope="module")
def triton_client(server) -> tuple[triton.InferenceServerClient, dict[str, str]]:
    url = server.url("inference").removeprefix("http://")
    return triton.InferenceServerClient(url), {"Authorization": f"Bearer {server.client.token('inference')}"}


def fresh(headers: dict[str, str]) -> dict[str, str]:
    """A copy: tritonclient adds Inference-Header-Content-Length to the dict it is given."""
    return dict(headers)


def answers(result) -> list:
    return [json.loads(element) for element in result.as_numpy("answer")]


def strip_model(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "model"}


@pytest.mark.parametrize("binary", [True, False], ids=["binary tensors (the default)", "JSON tensors, no Content-Type"])
def test_texts_get_the_embeddings_predictions_gives(server, triton_client, binary):
    client, headers = triton_client
    texts = [b"The meal was delicious and the service friendly.", b"Stocks fell sharply on Monday."]
    value = triton.InferInput("text", [2], "BYTES")
    value.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
    got = answers(client.infer("minilm_embeddings", [value], headers=fresh(headers)))
    expected = [server.client.predict_bytes("minilm_embeddings", text, "text/plain").body for text in texts]
    assert same_json([strip_model(a) for a in got], [strip_model(e) for e in expected], NOISE)


def test_an_image_as_binary_bytes_gets_the_labels_predictions_gives(server, triton_client):
    client, headers = triton_client
    data = (Path(skimage.data_dir) / "coffee.png").read_bytes()
    value = triton.InferInput("image", [1], "BYTES")
    value.set_data_from_numpy(np.array([data], dtype=np.object_))
    result = client.infer("efficientnet_lite0", [value], headers=fresh(headers))
    [got] = answers(result)
    expected = server.client.predict_bytes("efficientnet_lite0", data, "image/png").body
    assert same_json(strip_model(got), strip_model(expected), NOISE)
    # the typed outputs beside the JSON answer: top-k labels and their probabilities
    labels = [label if isinstance(label, str) else label.decode() for label in result.as_numpy("label")[0]]  # JSON data: str
    assert labels == [p["label"] for p in expected["predictions"]]
    assert np.allclose(result.as_numpy("probability")[0], [p["probability"] for p in expected["predictions"]], atol=NOISE)


def test_features_as_a_binary_fp32_tensor_get_the_forecast(server, triton_client):
    client, headers = triton_client
    history = np.linspace(50, 60, 24, dtype=np.float32)[None, :]
    value = triton.InferInput("temperature_history", [1, 24], "FP32")
    value.set_data_from_numpy(history)
    result = client.infer("weather_seattle", [value], headers=fresh(headers))
    [got] = answers(result)
    expected = server.client.predict_json("weather_seattle", {"temperature_history": history[0].tolist()}).body
    assert same_json(strip_model(got), strip_model(expected), NOISE)
    forecast = result.get_output("temperature_plus_1h")
    assert forecast["parameters"] == {"unit": "degF"} and forecast["datatype"] == "FP32"
    assert np.allclose(result.as_numpy("temperature_plus_1h"), [expected["prediction"]["temperature_plus_1h"]], atol=NOISE)


def test_server_liveness_and_readiness_answer_tritonclient_with_the_token(triton_client):
    client, headers = triton_client  # ts_open_inference_protocol=true in config/config.properties
    assert client.is_server_live(headers=fresh(headers)) and client.is_server_ready(headers=fresh(headers))


def test_a_refusal_reaches_tritonclient_with_its_status_and_message(triton_client):
    client, headers = triton_client
    value = triton.InferInput("image", [1], "BYTES")
    value.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("efficientnet_lite0", [value], headers=fresh(headers))
    assert caught.value.status() == "415"
    assert "is not an image format Pillow can read" in caught.value.message()


# -- every archive of the store, as a Triton or KServe user meets it ----------------------------------
# The model metadata says each input's name, datatype and shape; a client builds its request from it
# (metadata_requests.py), with values a user gives by input name, as perf_analyzer's --input-data does.
GRPC_CLIENTS = Path(__file__).with_name("grpc_clients.py")
WORD = b"read"  # a word: g2p_en spells a-z only; the text models take any text


def coffee() -> bytes:
    return (Path(skimage.data_dir) / "coffee.png").read_bytes()


def user_values(archive: Path) -> dict[str, Any]:
    """What a user sends per input name: a photo as ``image``, a word as ``text``, and a regression archive's golden
    features (inside its guards) by feature name; numbers the metadata fixes in size are left to the builder."""
    with zipfile.ZipFile(archive) as opened:
        spec = json.loads(opened.read("manifest.json"))["spec"]
        golden = opened.read(spec["golden"][0]["input"])
    features = json.loads(golden) if spec["task"] == "regression" else {}
    composed = {"input": golden} if spec["task"] == "pipeline" else {}  # a pipeline reads what its golden input is
    return {"image": coffee(), "text": WORD, **features, **composed}


def store_models(store: Path) -> dict[str, Path]:
    with_names = {}
    for path in sorted(store.glob("*.mar")):
        with zipfile.ZipFile(path) as opened:
            with_names[json.loads(opened.read("manifest.json"))["spec"]["name"]] = path
    return with_names


def runtime_client(kserve_runtime) -> tuple[triton.InferenceServerClient, dict[str, str]]:
    return (triton.InferenceServerClient(kserve_runtime.url().removeprefix("http://")),
            {"Authorization": f"Bearer {kserve_runtime.token()}"})


def triton_inputs(metadata: dict, values: dict) -> list[triton.InferInput]:
    inputs = []
    for name, datatype, array in tensors(metadata, values):
        value = triton.InferInput(name, list(array.shape), datatype)
        value.set_data_from_numpy(array)  # tritonclient's default: binary tensors
        inputs.append(value)
    return inputs


def test_a_request_built_from_the_metadata_alone_gets_200_from_tritonclient_over_rest(kserve_runtime, store):
    client, headers = runtime_client(kserve_runtime)
    failed = []
    for model, archive in store_models(store).items():
        metadata = client.get_model_metadata(model, headers=fresh(headers))
        try:
            result = client.infer(model, triton_inputs(metadata, user_values(archive)), headers=fresh(headers))
        except InferenceServerException as err:
            failed.append(f"{model} {metadata['inputs']}: {err.status()} {err.message()}")
            continue
        assert len(result.as_numpy("answer")) == 1 and metadata["versions"] == ["1.0"]
    assert len(store_models(store)) >= 12 and not failed, "\n".join(failed)


def test_a_request_built_from_the_metadata_alone_gets_200_from_the_kserve_sdk_over_rest_and_grpc(kserve_runtime, store):
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

    client, headers = runtime_client(kserve_runtime)

    def request(model: str, archive: Path) -> InferRequest:
        inputs = []
        for name, datatype, array in tensors(client.get_model_metadata(model, headers=fresh(headers)), user_values(archive)):
            value = InferInput(name, list(array.shape), datatype)
            value.set_data_from_numpy(array, binary_data=True)
            inputs.append(value)
        return InferRequest(model, inputs)

    async def ask() -> list[str]:
        rest, grpc_client = InferenceRESTClient(RESTConfig(protocol="v2")), InferenceGRPCClient(kserve_runtime.grpc_address)
        metadata = [("authorization", headers["Authorization"])]
        failed = []
        try:
            for model, archive in store_models(store).items():
                for label in ("REST", "gRPC"):
                    try:
                        if label == "REST":
                            response = await rest.infer(kserve_runtime.url(), request(model, archive), model, headers=fresh(headers))
                        else:
                            response = await grpc_client.infer(request(model, archive), headers=metadata)
                    except Exception as err:  # noqa: BLE001 -- httpx's and grpc's errors alike: named below
                        failed.append(f"{model} over {label}: {err}")
                        continue
                    assert len(response.outputs[0].as_numpy()) == 1
        finally:
            await rest.close()
            await grpc_client.close()
        return failed

    failed = asyncio.run(ask())
    assert not failed, "\n".join(failed)


def encoded(values: dict[str, Any]) -> dict[str, Any]:
    return {name: {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value for name, value in values.items()}


def grpc_report(kserve_runtime, plan: dict) -> dict:
    done = subprocess.run([sys.executable, str(GRPC_CLIENTS), kserve_runtime.grpc_address, kserve_runtime.token()],
                          input=json.dumps(plan), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


WRONG_DATATYPES = [("digits", "x", [1, 8, 8], "FP32"), ("weather_seattle", "temperature_history", [1, 24], "FP32"),
                   ("efficientnet_lite0", "top_k", [1], "INT32")]


def wrong(name: str, shape: list[int]) -> list[triton.InferInput]:
    """An INT64 tensor where the model declares another datatype (beside the photo, for the image option)."""
    value = triton.InferInput(name, shape, "INT64")
    value.set_data_from_numpy(np.full(shape, 3, dtype=np.int64))
    if name != "top_k":
        return [value]
    image = triton.InferInput("image", [1], "BYTES")
    image.set_data_from_numpy(np.array([coffee()], dtype=np.object_))
    return [image, value]


@pytest.mark.parametrize(("model", "name", "shape", "declared"), WRONG_DATATYPES, ids=[m for m, *_ in WRONG_DATATYPES])
def test_a_wrong_datatype_is_a_400_naming_both_on_both_engines(server, kserve_runtime, model, name, shape, declared):
    engines = {"TorchServe": triton_client_of(server.url("inference"), server.client.token("inference")),
               "KServe runtime": runtime_client(kserve_runtime)}
    for engine, (client, headers) in engines.items():
        with pytest.raises(InferenceServerException) as caught:
            client.infer(model, wrong(name, shape), headers=fresh(headers))
        assert caught.value.status() == "400", (engine, caught.value)
        assert f"{name!r} is INT64 {shape}, but this model expects {declared} [-1" in caught.value.message(), (engine, caught.value)


def test_tritonclient_on_its_defaults_sends_an_image_with_its_top_k_option_on_both_engines(server, kserve_runtime):
    """The option as an INT32 tensor beside the binary image (one per instance), or as a request parameter."""
    engines = {"TorchServe": triton_client_of(server.url("inference"), server.client.token("inference")),
               "KServe runtime": runtime_client(kserve_runtime)}
    for engine, (client, headers) in engines.items():
        image, top_k = triton.InferInput("image", [1], "BYTES"), triton.InferInput("top_k", [1], "INT32")
        image.set_data_from_numpy(np.array([coffee()], dtype=np.object_))
        top_k.set_data_from_numpy(np.array([2], dtype=np.int32))
        by_tensor = client.infer("efficientnet_lite0", [image, top_k], headers=fresh(headers))
        by_parameter = client.infer("efficientnet_lite0", [image], headers=fresh(headers), parameters={"top_k": 1})
        assert [len(json.loads(by_tensor.as_numpy("answer")[0])["predictions"]),
                len(json.loads(by_parameter.as_numpy("answer")[0])["predictions"])] == [2, 1], engine


def triton_client_of(url: str, token: str) -> tuple[triton.InferenceServerClient, dict[str, str]]:
    return triton.InferenceServerClient(url.removeprefix("http://")), {"Authorization": f"Bearer {token}"}


def server_message(url: str, token: str | None, method: str, path: str, body: bytes = b"", content_type: str = "") -> str:
    """What the server itself answers on that route: its OIP ``error``."""
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **({"Content-Type": content_type} if content_type else {})}
    reply = requests.request(method, url + path, data=body, headers=headers, timeout=60)
    assert reply.status_code >= 400, reply.text
    return reply.json()["error"]


def refused_message(call) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value.message()


def raise_if_error(response) -> None:
    from tritonclient.http._utils import _raise_if_error  # the client's own reading of a refusal

    _raise_if_error(response)


def test_tritonclient_over_rest_shows_the_servers_message_for_every_refusal(kserve_runtime):
    client, headers = runtime_client(kserve_runtime)
    url, token = kserve_runtime.url(), kserve_runtime.token()
    photo = triton.InferInput("image", [1], "BYTES")
    photo.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
    digits = wrong("x", [1, 8, 8])
    refusals = [  # the client's call, and the same refusal on the wire (what the server says), or what it must say
        ("no token", lambda: client.infer("digits", digits), ("POST", "/v2/models/digits/infer", b"{}", None)),
        ("unknown model", lambda: client.infer("nope", digits, headers=fresh(headers)), ("POST", "/v2/models/nope/infer", b"{}", token)),
        ("malformed JSON", lambda: raise_if_error(client._post("v2/models/digits/infer", b"{not json",
                                                                {**headers, "Content-Type": "application/json"}, None)),
         ("POST", "/v2/models/digits/infer", b"{not json", token)),
        ("a version not served", lambda: client.get_model_metadata("digits", "9.9", headers=fresh(headers)),
         ("GET", "/v2/models/digits/versions/9.9", b"", token)),
        ("Triton's model configuration", lambda: client.get_model_config("digits", headers=fresh(headers)),
         ("GET", "/v2/models/digits/config", b"", token)),
        ("Triton's repository", lambda: client.load_model("digits", headers=fresh(headers)),
         ("POST", "/v2/repository/models/digits/load", b"", token)),
        ("wrong datatype", lambda: client.infer("digits", digits, headers=fresh(headers)),
         "'x' is INT64 [1, 8, 8], but this model expects"),
        ("not an image", lambda: client.infer("efficientnet_lite0", [photo], headers=fresh(headers)),
         "not an image format Pillow can read"),
    ]
    for label, call, expected in refusals:
        message = refused_message(call)
        if isinstance(expected, tuple):
            method, path, body, key = expected
            expected = server_message(url, key, method, path, body, "application/json")
        assert expected in message and "decoding the response" not in message, (label, message)


def test_the_kserve_sdk_shows_the_servers_message_for_every_refusal(kserve_runtime):
    from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

    url, token = kserve_runtime.url(), kserve_runtime.token()

    def request(model: str, name: str, datatype: str, array: np.ndarray, version: str | None = None) -> InferRequest:
        value = InferInput(name, list(array.shape), datatype)
        value.set_data_from_numpy(array, binary_data=True)
        return InferRequest(model, [value], model_version=version)

    digits = ("digits", "x", "INT64", np.full([1, 8, 8], 3, dtype=np.int64))
    photo = ("efficientnet_lite0", "image", "BYTES", np.array([b"not an image"], dtype=np.object_))
    expected = {
        "no token": server_message(url, None, "POST", "/v2/models/digits/infer"),
        "unknown model": server_message(url, token, "POST", "/v2/models/nope/infer", b"{}", "application/json"),
        "wrong datatype": "'x' is INT64 [1, 8, 8], but this model expects FP32 [-1, 8, 8]",
        "not an image": "not an image format Pillow can read",
    }

    async def ask() -> dict[str, list[str]]:
        rest, grpc_client = InferenceRESTClient(RESTConfig(protocol="v2")), InferenceGRPCClient(kserve_runtime.grpc_address)
        auth = {"Authorization": f"Bearer {token}"}
        calls = {
            "no token": (lambda: rest.infer(url, request(*digits), "digits", headers={}),
                         lambda: grpc_client.infer(request(*digits))),
            "unknown model": (lambda: rest.infer(url, request("nope", *digits[1:]), "nope", headers=dict(auth)),
                              lambda: grpc_client.infer(request("nope", *digits[1:]), headers=[("authorization", auth["Authorization"])])),
            "wrong datatype": (lambda: rest.infer(url, request(*digits), "digits", headers=dict(auth)),
                               lambda: grpc_client.infer(request(*digits), headers=[("authorization", auth["Authorization"])])),
            "not an image": (lambda: rest.infer(url, request(*photo), "efficientnet_lite0", headers=dict(auth)),
                             lambda: grpc_client.infer(request(*photo), headers=[("authorization", auth["Authorization"])])),
        }
        shown: dict[str, list[str]] = {}
        try:
            for label, pair in calls.items():
                for call in pair:
                    try:
                        await call()
                    except Exception as err:  # noqa: BLE001 -- httpx.HTTPStatusError over REST, grpc.RpcError over gRPC
                        shown.setdefault(label, []).append(err.details() if hasattr(err, "details") else str(err))
        finally:
            await rest.close()
            await grpc_client.close()
        return shown

    shown = asyncio.run(ask())
    for label, fragment in expected.items():
        assert len(shown.get(label, [])) == 2 and all(fragment in message for message in shown[label]), (label, shown.get(label))


def test_tritonclient_over_grpc_builds_requests_from_the_metadata_and_shows_every_refusals_message(kserve_runtime, store):
    digits = {"name": "x", "datatype": "INT64", "shape": [1, 8, 8], "data": [3] * 64}
    photo = {"name": "image", "datatype": "BYTES", "shape": [1], "bytes_b64": [base64.b64encode(b"not an image").decode()]}
    plan = {"cases": [{"model": "digits", "inputs": [{**digits, "datatype": "FP32"}]}],
            "from_metadata": {model: encoded(user_values(archive)) for model, archive in store_models(store).items()},
            "refusals": [
                {"label": "no token", "call": "infer", "model": "digits", "inputs": [digits], "token": False},
                {"label": "unknown model", "call": "infer", "model": "nope", "inputs": [digits]},
                {"label": "wrong datatype", "call": "infer", "model": "digits", "inputs": [digits]},
                {"label": "not an image", "call": "infer", "model": "efficientnet_lite0", "inputs": [photo]},
                {"label": "a version not served", "call": "metadata", "model": "digits", "version": "9.9"},
                {"label": "Triton's model configuration", "call": "config", "model": "digits"},
            ]}
    report = grpc_report(kserve_runtime, plan)
    failed = {model: got for model, got in report["from_metadata"].items() if got["code"] != "OK"}
    assert len(report["from_metadata"]) >= 12 and not failed, failed
    assert all(len(got["answers"]) == 1 for got in report["from_metadata"].values())
    assert report["metadata"]["digits"]["versions"] == ["1.0"]
    url, token = kserve_runtime.url(), kserve_runtime.token()
    expected = {
        "no token": ("StatusCode.UNAUTHENTICATED", server_message(url, None, "POST", "/v2/models/digits/infer")),
        "unknown model": ("StatusCode.NOT_FOUND", "model 'nope' is not served here; GET /v2/models lists the models"),
        "wrong datatype": ("StatusCode.INVALID_ARGUMENT", "'x' is INT64 [1, 8, 8], but this model expects FP32 [-1, 8, 8]"),
        "not an image": ("StatusCode.INVALID_ARGUMENT", "not an image format Pillow can read"),
        "a version not served": ("StatusCode.NOT_FOUND", server_message(url, token, "GET", "/v2/models/digits/versions/9.9")),
        "Triton's model configuration": ("StatusCode.UNIMPLEMENTED", "Method not found"),
    }
    shown = {item["label"]: (item["code"], item.get("message") or "") for item in report["refusals"]}
    for label, (code, fragment) in expected.items():
        assert shown[label][0] == code and fragment in shown[label][1], (label, shown[label])


TORCHSERVE_REFUSALS = [  # what TorchServe's Java frontend answers itself, before any handler (docs/kserve.md lists them)
    ("no token", "POST", "/v2/models/digits/infer", None, 400, "InvalidKeyException"),
    ("unknown model", "POST", "/v2/models/nope/infer", "token", 404, "ModelNotFoundException"),
    ("model metadata", "GET", "/v2/models/digits", "token", 404, None),
    ("Triton's model configuration", "GET", "/v2/models/digits/config", "token", 404, None),
]


@pytest.mark.parametrize(("label", "method", "path", "token", "status", "kind"), TORCHSERVE_REFUSALS,
                         ids=[label for label, *_ in TORCHSERVE_REFUSALS])
def test_torchserves_own_refusals_have_no_oip_error_key_as_documented(server, label, method, path, token, status, kind):
    """These cannot be changed (TorchServe's Java answers them); tritonclient then shows "decoding the response: 'error'"."""
    key = server.client.token("inference") if token else None
    reply = requests.request(method, server.url("inference") + path, data=b"{}", timeout=60,
                             headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    body = reply.json()
    assert reply.status_code == status and "error" not in body and "message" in body, (label, reply.status_code, body)
    assert kind is None or body["type"] == kind, body
