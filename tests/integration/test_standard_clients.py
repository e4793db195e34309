"""Standard Open Inference Protocol clients on their default settings against the real TorchServe: tritonclient
sends binary tensors (and JSON ones without a Content-Type), and gets the answers /predictions gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage
import tritonclient.http as triton
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
