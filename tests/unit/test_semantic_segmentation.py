"""Task ``semantic_segmentation`` without a build or a server: a stand-in model paints known classes, and the task
must answer the mask as a PNG on the upright photo (letterbox padding cut away), each class's share, a bounded
probability map on request, a typed UINT8 mask over v2, and keep a bad request from harming its batch-mates."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from markit.core.batch import BatchCore
from markit.core.exchange import Request
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.semantic_segmentation.handler import Segmenter, png_array

from helpers import complete_spec

LABELS = ["background", "sky", "sea"]


def painter(batch: torch.Tensor) -> torch.Tensor:
    """Logits at half the input's size: 'sky' where the input's red is high, 'sea' where its blue is, else background
    (a letterbox's grey padding is background)."""
    red, blue = batch[:, 0], batch[:, 2]
    logits = torch.stack([torch.full_like(red, 0.5), red * 4, blue * 4], dim=1)
    return torch.nn.functional.avg_pool2d(logits, 2)


def segmenter(tmp_path: Path, model=painter, preprocess: dict | None = None, postprocess: dict | None = None) -> BatchCore:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "index_to_name.json").write_text(json.dumps({str(i): name for i, name in enumerate(LABELS)}))
    spec = complete_spec({"name": "painter", "task": "semantic_segmentation",
                          "preprocess": {"color_mode": "RGB", "mean": [0, 0, 0], "std": [1, 1, 1], "geometry": "letterbox",
                                         "size": [64, 64], "pad_value": 0, "min_side": 4, **(preprocess or {})},
                          "labels": {"file": "index_to_name.json", "count": len(LABELS)},
                          "postprocess": {"max_mask_side": 80, "probability_side": 16, "max_probability_side": 32,
                                          **(postprocess or {})},
                          "budgets": {"request_bytes": 1 << 22, "instances": 8, "pixels": 10_000_000}})
    archive = UnpackedArchive(directory=tmp_path, manifest={"spec": spec, "identity": "sha256:t", "files": {}})
    return BatchCore(Segmenter(archive, LoadedModel(forward=model)))


def two_bands(width: int = 120, height: int = 60) -> bytes:
    """A photo whose top half is red (sky) and bottom half blue (sea)."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (0, height // 2, width, height))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def raw(data: bytes) -> Request:
    return Request(Payload({"body": data}, {"body": "image/png"}))


def asking(data: bytes, **options) -> Request:
    body = json.dumps({"image": base64.b64encode(data).decode(), **options}).encode()
    return Request(Payload({"body": body}, {"body": "application/json"}))


def test_the_mask_lies_on_the_photo_at_its_size_or_the_declared_maximum(tmp_path):
    [small] = segmenter(tmp_path / "a").answer([raw(two_bands(60, 30))])
    mask = png_array(small.body["mask"]["png"])
    assert mask.shape == (30, 60) and small.body["mask"] == {**small.body["mask"], "width": 60, "height": 30}
    assert (mask[:14] == 1).all() and (mask[16:] == 2).all()  # sky above, sea below; no padding (background) on the photo
    [large] = segmenter(tmp_path / "b").answer([raw(two_bands(200, 100))])
    assert png_array(large.body["mask"]["png"]).shape == (40, 80)  # the longer side at max_mask_side 80
    assert large.body["image"] == {"width": 200, "height": 100}


def test_each_present_class_is_answered_with_its_share(tmp_path):
    [response] = segmenter(tmp_path).answer([raw(two_bands(60, 30))])
    shares = {item["label"]: item["fraction"] for item in response.body["classes"]}
    assert set(shares) == {"sky", "sea"} and shares["sky"] == pytest.approx(0.5, abs=0.05)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_a_probability_map_on_request_within_its_bound(tmp_path):
    core = segmenter(tmp_path)
    asked, default, too_big, unknown = core.answer([asking(two_bands(), probability_of="sky", probability_side=24),
                                                    asking(two_bands(), probability_of="sea"),
                                                    asking(two_bands(), probability_of="sky", probability_side=33),
                                                    asking(two_bands(), probability_of="cloud")])
    probability = asked.body["probability"]
    levels = png_array(probability["png"])
    assert (probability["label"], probability["width"], probability["height"], levels.shape) == ("sky", 24, 12, (12, 24))
    assert levels[0].min() > 200 and levels[-1].max() < 50  # sky probable above, not below
    assert (default.body["probability"]["width"], default.body["probability"]["height"]) == (16, 8)
    assert too_big.status == 400 and "probability_side must be an integer from 1 to 32" in too_big.body["message"]
    assert unknown.status == 400 and "probability_of: 'cloud' is not one of this model's labels" in unknown.body["message"]
    assert "probability" not in core.answer([raw(two_bands())])[0].body


def test_v2_answers_a_typed_uint8_mask(tmp_path):
    image = base64.b64encode(two_bands(60, 30)).decode()
    body = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": [image, image],
                        "parameters": {"content_type": "base64"}}]}
    core = segmenter(tmp_path)
    [response] = core.answer([Request(Payload({"body": json.dumps(body).encode()}, {"body": "application/json"}))])
    mask = next(output for output in response.body["outputs"] if output["name"] == "mask")
    assert (mask["datatype"], mask["shape"]) == ("UINT8", [2, 30, 60])
    first = np.array(mask["data"][:1800]).reshape(30, 60)
    assert np.array_equal(first, png_array(json.loads(response.body["outputs"][0]["data"][0])["mask"]["png"]))
    assert core.v2_outputs()[1] == {"name": "mask", "datatype": "UINT8", "shape": [-1, -1, -1]}


def test_a_bad_photo_harms_no_batch_mate_and_a_broken_model_is_a_500(tmp_path):
    sliver, good = segmenter(tmp_path / "a").answer([raw(two_bands(300, 2)), raw(two_bands())])
    assert sliver.status == 400 and "preprocess.min_side" in sliver.body["message"] and good.status == 200
    [broken] = segmenter(tmp_path / "b", model=lambda batch: batch[:, :2]).answer([raw(two_bands())])
    assert broken.status == 500 and "a segmenter returns logits [B, 3 classes (one per label), h, w]" in broken.body["message"]
