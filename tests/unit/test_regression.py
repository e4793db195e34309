"""The regression handler without a build or a server: features in, named predictions with units out,
each row validated, guards that reject (422) or flag (200 with a warning) and count their hits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from markit.core.errors import ArchiveError, BadInput, PayloadTooLarge, UnprocessableInput
from markit.core.exchange import NO_METRICS
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.regression.handler import Regressor

from helpers import Counted, RowSum

MAX_ROWS = 16
SPEC = {
    "name": "forecast", "version": "1.0", "task": "regression",
    "features": [{"name": "history", "shape": [3], "unit": "degF"}, {"name": "hour", "shape": [], "unit": "h"}],
    "outputs": [{"name": "next", "unit": "degF"}],
    "guards": [{"feature": "history", "min": 0, "max": 100, "policy": "reject"},
               {"feature": "hour", "min": 0, "max": 23, "policy": "flag"}],
    "budgets": {"request_bytes": 1 << 20, "rows": MAX_ROWS},
}


@pytest.fixture
def handler(tmp_path: Path) -> Regressor:
    manifest = {"spec": SPEC, "identity": "sha256:test", "files": {}}
    return Regressor(UnpackedArchive(directory=tmp_path, manifest=manifest), LoadedModel(forward=RowSum()))


def body(value) -> Payload:
    return Payload(fields={"body": json.dumps(value).encode()}, content_types={"body": "application/json"})


def answer(handler: Regressor, value, metrics=NO_METRICS):
    item = handler.decode(body(value), metrics)
    with torch.inference_mode():
        output = handler.model(handler.preprocess([item]))
    return handler.postprocess(output if item.rows else output[0], item)


def test_one_row_gives_one_prediction_with_units_and_the_model(handler):
    reply = answer(handler, {"history": [50, 51, 52], "hour": 7})
    assert reply["prediction"] == {"next": 160.0}
    assert reply["units"] == {"next": "degF"} and reply["warnings"] == []
    assert reply["model"] == {"name": "forecast", "version": "1.0", "identity": "sha256:test"}


def test_a_list_of_rows_is_answered_in_order(handler):
    reply = answer(handler, [{"history": [1, 2, 3], "hour": 0}, {"history": [10, 10, 10], "hour": 1}])
    assert reply["predictions"] == [{"next": 6.0}, {"next": 31.0}] and reply["warnings"] == [[], []]


@pytest.mark.parametrize(("value", "error", "message"), [
    ({"history": [1, 2, 3]}, BadInput, "hour: missing feature (a number in h)"),
    ({"history": [1, 2, 3], "hour": 1, "day": 2}, BadInput, "day: unknown feature; this model takes ['history', 'hour']"),
    ({"history": [1, 2], "hour": 1}, BadInput, "history: expected shape [3], got [2]"),
    ({"history": ["a", 2, 3], "hour": 1}, BadInput, "history: expected numbers with shape [3]"),
    ([{"history": [1, 2, 3], "hour": 1}, {"history": [1, 2, 3], "hour": float("nan")}], BadInput,
     "rows[1].hour: contains NaN or infinity"),
    ([], BadInput, "the JSON list is empty"),
    ([7], BadInput, "rows[0] must be a JSON object of features, got a JSON int"),
    ({"history": [1, 2, 300], "hour": 1}, UnprocessableInput,
     "history: value 300 is outside the range [0, 100] this model was trained on (guards, policy reject)"),
])
def test_bad_rows_are_refused_naming_the_feature(handler, value, error, message):
    with pytest.raises(error) as caught:
        handler.decode(body(value), NO_METRICS)
    assert message in str(caught.value)


def test_too_many_rows_is_a_413(handler):
    with pytest.raises(PayloadTooLarge, match=rf"the request: {MAX_ROWS + 1} rows, more than this model's budget of {MAX_ROWS} \(budgets"):
        handler.decode(body([{"history": [1, 2, 3], "hour": 1}] * (MAX_ROWS + 1)), NO_METRICS)


def test_a_flag_guard_answers_with_a_warning_and_counts_the_hit(handler):
    metrics = Counted()
    reply = answer(handler, {"history": [1, 2, 3], "hour": 30}, metrics)
    assert reply["prediction"] == {"next": 36.0}
    assert reply["warnings"] == ["hour: value 30 is outside the range [0, 23] this model was trained on (guards, policy flag)"]
    assert metrics.counted == [("GuardHits", {"Feature": "hour", "Policy": "flag"})]


def test_a_manifest_without_outputs_is_refused(tmp_path):
    manifest = {"spec": {k: v for k, v in SPEC.items() if k != "outputs"}, "identity": "sha256:test", "files": {}}
    with pytest.raises(ArchiveError, match=r"manifest spec\.features/outputs/guards is invalid"):
        Regressor(UnpackedArchive(directory=tmp_path, manifest=manifest), LoadedModel(forward=RowSum()))
