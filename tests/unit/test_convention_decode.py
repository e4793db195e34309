"""The convention handler's own decode, with a model class in the test (no build): what the model's
preprocess raises becomes that request's status."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmarks.bad_inputs import png_claiming
from markit.core.batch import BatchCore
from markit.core.errors import ArchiveError, PayloadTooLarge, UnprocessableInput
from markit.core.exchange import NO_METRICS
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.convention.handler import ConventionHandler

from helpers import complete_spec

PIXELS = 10_000


class Opener(torch.nn.Module):
    """Opens the bytes as an image, as a convention model's preprocess would."""

    opened = 0

    def preprocess(self, raw: bytes | str) -> torch.Tensor:
        self.opened += 1
        image = Image.open(io.BytesIO(base64.b64decode(raw) if isinstance(raw, str) else raw))
        if image.mode != "L":
            raise ValueError(f"expected a greyscale image, got {image.mode}")
        return torch.zeros(1)

    def postprocess(self, row: torch.Tensor) -> dict:
        return {"ok": True}


@pytest.fixture
def handler(tmp_path: Path) -> ConventionHandler:
    spec = complete_spec({"name": "c", "version": "1", "task": "convention", "budgets": {"request_bytes": 1 << 20, "pixels": PIXELS}})
    archive = UnpackedArchive(tmp_path, {"spec": spec, "identity": "x", "files": {}})
    return ConventionHandler(archive, LoadedModel(forward=lambda x: x, instance=Opener()))


def raw(data: bytes) -> Payload:
    return Payload({"body": data}, {"body": "image/png"})


@pytest.mark.parametrize(("width", "height", "message"), [
    (30000, 30000, r"the image is over twice Pillow's limit of \d+ pixels, more than this model's budget of 10000 \(budgets.pixels\)"),
    (101, 100, r"the image \(101x100\): 10100 pixels, more than this model's budget of 10000 \(budgets.pixels\); send a smaller image"),
])
def test_raw_image_bytes_over_the_pixel_budget_are_a_413_before_the_model_opens_them(handler, width, height, message):
    with pytest.raises(PayloadTooLarge, match=message):
        handler.decode(raw(png_claiming(width, height)), NO_METRICS)
    assert handler.instance.opened == 0


def test_an_image_the_model_opens_from_json_over_pillows_limit_is_a_413_not_a_500(handler):
    data = json.dumps(base64.b64encode(png_claiming(30000, 30000)).decode()).encode()
    with pytest.raises(PayloadTooLarge, match=r"Opener\.preprocess opened an image over Pillow's limit of \d+ pixels"):
        handler.decode(Payload({"body": data}, {"body": "application/json"}), NO_METRICS)


def test_the_models_value_error_is_a_422(handler):
    rgb = io.BytesIO()
    Image.new("RGB", (4, 4)).save(rgb, format="PNG")
    with pytest.raises(UnprocessableInput, match=r"Opener\.preprocess refused the input: expected a greyscale image, got RGB"):
        handler.decode(raw(rgb.getvalue()), NO_METRICS)


class Declaring(Opener):
    v2_inputs = ({"name": "x", "datatype": "FP32", "shape": [8, 8], "description": "ink 0..16"},)


def handler_of(tmp_path: Path, model: torch.nn.Module) -> ConventionHandler:
    spec = complete_spec({"name": "c", "version": "1", "task": "convention", "budgets": {"request_bytes": 1 << 20}})
    archive = UnpackedArchive(tmp_path, {"spec": spec, "identity": "x", "files": {}})
    return ConventionHandler(archive, LoadedModel(forward=lambda x: x, instance=model))


def test_the_models_own_v2_inputs_are_its_metadata_and_without_them_one_bytes_input(tmp_path, handler):
    assert BatchCore(handler_of(tmp_path, Declaring())).v2_inputs() == [{"name": "x", "datatype": "FP32", "shape": [-1, 8, 8]}]
    assert BatchCore(handler).v2_inputs() == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]


@pytest.mark.parametrize(("declared", "fragment"), [
    ([], "Broken.v2_inputs must be a non-empty list"),
    ([{"name": "x", "datatype": "FLOAT"}], "Broken.v2_inputs[0].datatype 'FLOAT' is not one of"),
    ([{"name": "x", "datatype": "FP32", "shape": [0]}], "Broken.v2_inputs[0].shape must list one instance's dimensions"),
    ([{"name": "x", "datatype": "FP32", "dims": [8]}], "Broken.v2_inputs[0] must be an object with name, datatype"),
    ([{"name": "x", "datatype": "FP32"}, {"name": "x", "datatype": "INT32"}], "input names must be unique"),
])
def test_a_models_broken_v2_inputs_refuse_the_archive_naming_the_problem(tmp_path, declared, fragment):
    broken = type("Broken", (Opener,), {"v2_inputs": declared})
    with pytest.raises(ArchiveError) as caught:
        handler_of(tmp_path, broken())
    assert fragment in str(caught.value)
