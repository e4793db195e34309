"""Typed v2 outputs beside the JSON answer: classifier labels and probabilities, embeddings, forecasts with units."""

from __future__ import annotations

import json

import pytest

from markit.core.errors import BadInput
from markit.core.payload import Payload
from markit.protocols import codec as kserve
from markit.protocols.typed_outputs import TypedOutput, top_k_outputs

CLASSIFIED = [{"predictions": [{"label": "espresso", "probability": 0.95}, {"label": "cup", "probability": 0.01}]},
              {"predictions": [{"label": "tabby", "probability": 0.6}]}]  # the threshold left one label here


def outputs(response: dict) -> dict[str, dict]:
    return {output["name"]: output for output in response["outputs"]}


def test_a_classifier_answers_labels_and_probabilities_k_wide_padded_below_the_threshold():
    response = outputs(kserve.v2_response(CLASSIFIED, "m", "1", "r", top_k_outputs(2)))
    assert [json.loads(item) for item in response["answer"]["data"]] == CLASSIFIED
    assert response["label"] == {"name": "label", "shape": [2, 2], "datatype": "BYTES", "data": ["espresso", "cup", "tabby", ""]}
    assert response["probability"] == {"name": "probability", "shape": [2, 2], "datatype": "FP32", "data": [0.95, 0.01, 0.6, 0.0]}


def test_an_embedding_is_fp32_as_wide_as_the_model_makes_it():
    embedding = TypedOutput("embedding", "FP32", (-1,), lambda answer: answer["embedding"])
    assert embedding.metadata() == {"name": "embedding", "datatype": "FP32", "shape": [-1, -1]}
    tensor = embedding.tensor([{"embedding": [0.1, 0.2, 0.3]}, {"embedding": [0.4, 0.5, 0.6]}])
    assert tensor == {"name": "embedding", "shape": [2, 3], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}


def test_a_forecast_output_carries_its_unit():
    forecast = TypedOutput("temperature_plus_1h", "FP32", (), lambda answer: [answer["prediction"]["temperature_plus_1h"]],
                           {"unit": "degF"})
    assert forecast.metadata()["shape"] == [-1]
    assert forecast.tensor([{"prediction": {"temperature_plus_1h": 51.5}}]) == {
        "name": "temperature_plus_1h", "shape": [1], "datatype": "FP32", "data": [51.5], "parameters": {"unit": "degF"}}


def test_an_instance_answered_in_another_form_leaves_the_typed_output_out_and_the_answer_in():
    several = [CLASSIFIED[0], {"results": [CLASSIFIED[0], CLASSIFIED[1]]}]  # one instance was a list of texts
    response = outputs(kserve.v2_response(several, "m", "1", "r", top_k_outputs(2)))
    assert set(response) == {"answer"}


def test_a_request_gets_only_the_outputs_it_asks_for():
    response = kserve.v2_response(CLASSIFIED, "m", "1", "r", top_k_outputs(2), requested=("label",))
    assert [output["name"] for output in response["outputs"]] == ["label"]


def v2(body: dict, declared: tuple[str, ...]) -> kserve.Inbound:
    payload = Payload({"body": body}, {"body": "application/json"})
    return kserve.expand(payload, kserve.V2, lambda count: None, outputs=declared)


def test_asking_for_a_declared_output_is_recorded_and_an_undeclared_one_is_a_400_listing_them():
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["tea"]}
    asked = v2({"inputs": [tensor], "outputs": [{"name": "probability"}]}, ("answer", "label", "probability"))
    assert asked.outputs == ("probability",)
    with pytest.raises(BadInput, match=r"outputs\[0\] asks for 'logits'; this model's outputs are \['answer', 'label'\]"):
        v2({"inputs": [tensor], "outputs": [{"name": "logits"}]}, ("answer", "label"))
