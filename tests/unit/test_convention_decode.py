"""The convention handler's own decode, with a model class in the test (no build): what the model's
preprocess raises becomes that request's status."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from markit.runtime.convention import ConventionHandler
from markit.runtime.errors import PayloadTooLarge, UnprocessableInput
from markit.runtime.exchange import NO_METRICS
from markit.runtime.model_loading import LoadedModel
from markit.runtime.payload import Payload
from markit.runtime.unpacked_archive import UnpackedArchive


class Opener(torch.nn.Module):
    """Opens the bytes as an image, as a convention model's preprocess would."""

    def preprocess(self, raw: bytes) -> torch.Tensor:
        image = Image.open(io.BytesIO(raw))
        if image.mode != "L":
            raise ValueError(f"expected a greyscale image, got {image.mode}")
        return torch.zeros(1)

    def postprocess(self, row: torch.Tensor) -> dict:
        return {"ok": True}


def png_claiming(width: int, height: int) -> bytes:
    """A 1x1 greyscale PNG whose header claims ``width`` x ``height`` (Pillow refuses it from the header)."""
    small = io.BytesIO()
    Image.new("L", (1, 1)).save(small, format="PNG")
    data = bytearray(small.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR's width and height, after the signature and chunk header
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # IHDR's CRC over its type and data
    return bytes(data)


@pytest.fixture
def handler(tmp_path: Path) -> ConventionHandler:
    archive = UnpackedArchive(tmp_path, {"spec": {"name": "c", "version": "1", "task": "convention"}, "identity": "x", "files": {}})
    return ConventionHandler(archive, LoadedModel(forward=lambda x: x, instance=Opener()))


def raw(data: bytes) -> Payload:
    return Payload({"body": data}, {"body": "image/png"})


def test_an_image_over_pillows_limit_is_a_413_not_a_500(handler):
    with pytest.raises(PayloadTooLarge, match=r"Opener\.preprocess opened an image over Pillow's limit of \d+ pixels"):
        handler.decode(raw(png_claiming(30000, 30000)), NO_METRICS)


def test_the_models_value_error_is_a_422(handler):
    rgb = io.BytesIO()
    Image.new("RGB", (4, 4)).save(rgb, format="PNG")
    with pytest.raises(UnprocessableInput, match=r"Opener\.preprocess refused the input: expected a greyscale image, got RGB"):
        handler.decode(raw(rgb.getvalue()), NO_METRICS)
