"""Task ``object_detection`` without a build or a server: a stand-in model returns known candidates, and the task
must fit the photo, keep, suppress and rank them, map boxes back to the upright photo, honour bounded options,
answer typed v2 outputs and keep a bad request from harming its batch-mates."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from markit.core.batch import BatchCore
from markit.core.exchange import Request
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.common.photos import fit
from markit.tasks.object_detection.handler import ObjectDetector
from markit.tasks.object_detection.nms import batched_nms, box_iou, nms, nms_few

from helpers import complete_spec

LABELS = ["cat", "dog", "bird"]
PREPROCESS = {"color_mode": "RGB", "mean": [0, 0, 0], "std": [1, 1, 1], "geometry": "letterbox", "size": [100, 100],
              "min_side": 4}


class Stand:
    """A detector that returns the same candidates for every photo (input coordinates) and records its inputs."""

    def __init__(self, rows: list[tuple[float, float, float, float, float, int]], keypoints: bool = False) -> None:
        self.rows, self.keypoints, self.seen = rows, keypoints, []

    def __call__(self, batch: torch.Tensor):
        self.seen.append(tuple(batch.shape))
        count = batch.shape[0]
        boxes = torch.tensor([row[:4] for row in self.rows], dtype=torch.float32).expand(count, -1, -1)
        scores = torch.tensor([row[4] for row in self.rows], dtype=torch.float32).expand(count, -1)
        classes = torch.tensor([row[5] for row in self.rows], dtype=torch.int64).expand(count, -1)
        if not self.keypoints:
            return boxes, scores, classes
        centers = torch.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], dim=-1)
        return boxes, scores, classes, centers[:, :, None, :]


def detector(tmp_path: Path, model, preprocess: dict | None = None, postprocess: dict | None = None,
             keypoints: list[str] | None = None) -> BatchCore:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "index_to_name.json").write_text(json.dumps({str(i): name for i, name in enumerate(LABELS)}))
    spec = complete_spec({"name": "finder", "task": "object_detection", "preprocess": {**PREPROCESS, **(preprocess or {})},
                          "labels": {"file": "index_to_name.json", "count": len(LABELS)},
                          "postprocess": {"score_threshold": 0.5, "iou_threshold": 0.5, "max_detections": 10,
                                          "min_score_threshold": 0.1, "max_detections_limit": 20, **(postprocess or {})},
                          "budgets": {"request_bytes": 1 << 22, "instances": 8, "pixels": 10_000_000},
                          **({"keypoints": {"names": keypoints}} if keypoints else {})})
    archive = UnpackedArchive(directory=tmp_path, manifest={"spec": spec, "identity": "sha256:t", "files": {}})
    return BatchCore(ObjectDetector(archive, LoadedModel(forward=model)))


def photo(width: int, height: int, orientation: int | None = None, kind: str = "PNG") -> bytes:
    image = Image.new("RGB", (width, height), (90, 140, 200))
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, format=kind)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def raw(data: bytes, content_type: str = "image/png") -> Request:
    return Request(Payload({"body": data}, {"body": content_type}))


def asking(data: bytes, **options) -> Request:
    body = json.dumps({"image": base64.b64encode(data).decode(), **options}).encode()
    return Request(Payload({"body": body}, {"body": "application/json"}))


def boxes_of(response) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d["label"], d["score"], tuple(d["box"].values())) for d in response.body["detections"]]


def test_a_letterboxed_photos_boxes_come_back_in_its_own_pixels(tmp_path):
    model = Stand([(10, 35, 60, 60, 0.9, 0), (0, 0, 100, 100, 0.8, 1)])
    [response] = detector(tmp_path, model).answer([raw(photo(200, 100))])
    # 200x100 -> 100x50 at (0, 25): x / 0.5, (y - 25) / 0.5, clipped to the photo
    assert boxes_of(response) == [("cat", 0.9, (20.0, 20.0, 120.0, 70.0)), ("dog", 0.8, (0.0, 0.0, 200.0, 100.0))]
    assert response.body["image"] == {"width": 200, "height": 100}
    assert model.seen == [(1, 3, 100, 100)]


def test_letterbox_and_stretch_fit_as_declared():
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    boxed, fitted = fit(image, "letterbox", (100, 100), 114, "bilinear")
    assert boxed.size == (100, 100) and boxed.getpixel((50, 10)) == (114, 114, 114) and boxed.getpixel((50, 50)) == (255, 0, 0)
    assert (fitted.scale_x, fitted.scale_y, fitted.offset_x, fitted.offset_y) == (0.5, 0.5, 0.0, 25.0)
    stretched, fitted = fit(image, "stretch", (50, 100), 0, "bilinear")
    assert stretched.size == (100, 50) and (fitted.scale_x, fitted.scale_y) == (0.5, 0.5)
    same, fitted = fit(image, "none", None, 0, "bilinear")
    assert same is image and (fitted.scale_x, fitted.offset_y) == (1.0, 0.0)


def test_an_exif_rotated_photo_is_answered_upright_unless_the_archive_says_otherwise(tmp_path):
    turned = photo(200, 100, orientation=6)  # stored 200x100 landscape, shown 100x200 portrait
    model = Stand([(25, 0, 75, 50, 0.9, 0)])
    [upright] = detector(tmp_path / "a", model).answer([raw(turned, "image/jpeg")])
    assert upright.body["image"] == {"width": 100, "height": 200}
    assert boxes_of(upright) == [("cat", 0.9, (0.0, 0.0, 100.0, 100.0))]  # 100x200 -> 50x100 at (25, 0): scale 0.5
    [stored] = detector(tmp_path / "b", model, {"exif": False}).answer([raw(turned, "image/jpeg")])
    assert stored.body["image"] == {"width": 200, "height": 100}


def test_threshold_nms_classes_and_max_detections(tmp_path):
    rows = [(0, 0, 50, 50, 0.9, 0), (2, 2, 52, 52, 0.85, 0),  # the same cat twice: the second is suppressed
            (2, 2, 52, 52, 0.8, 1),  # a dog on the same spot: another class, kept
            (60, 60, 90, 90, 0.3, 2), (70, 0, 99, 20, 0.6, 2)]
    core = detector(tmp_path, Stand(rows), {"geometry": "stretch", "size": [100, 100]})
    image = photo(100, 100)
    default, low, two, birds = core.answer([raw(image), asking(image, threshold=0.2), asking(image, max_detections=2),
                                            asking(image, classes="bird", threshold=0.25)])
    assert [(label, score) for label, score, _ in boxes_of(default)] == [("cat", 0.9), ("dog", 0.8), ("bird", 0.6)]
    assert [score for _, score, _ in boxes_of(low)] == [0.9, 0.8, 0.6, 0.3]
    assert [score for _, score, _ in boxes_of(two)] == [0.9, 0.8]
    assert [(label, score) for label, score, _ in boxes_of(birds)] == [("bird", 0.6), ("bird", 0.3)]


def test_a_model_that_applies_nms_itself_is_not_suppressed_again(tmp_path):
    rows = [(0, 0, 50, 50, 0.9, 0), (2, 2, 52, 52, 0.85, 0)]
    [response] = detector(tmp_path, Stand(rows), {"geometry": "stretch"}, {"iou_threshold": None}).answer([raw(photo(100, 100))])
    assert [score for _, score, _ in boxes_of(response)] == [0.9, 0.85]


@pytest.mark.parametrize(("options", "fragment"), [
    ({"threshold": 0.05}, "threshold must be a number from 0.1 to 1 (this model's postprocess.min_score_threshold is the lowest)"),
    ({"threshold": "high"}, "threshold must be a number"),
    ({"max_detections": 21}, "max_detections must be an integer from 1 to 20 (this model's postprocess.max_detections_limit"),
    ({"classes": "cat,zebra"}, "classes: 'zebra' is not one of this model's labels ('cat', 'dog', 'bird')"),
    ({"classes": 3}, "classes must be label names"),
    ({"treshold": 0.3}, "unknown JSON key 'treshold'"),
])
def test_an_option_out_of_bounds_is_a_400_naming_the_bound_and_harms_no_batch_mate(tmp_path, options, fragment):
    image = photo(100, 100)
    bad, good = detector(tmp_path, Stand([(0, 0, 50, 50, 0.9, 0)])).answer([asking(image, **options), raw(image)])
    assert bad.status == 400 and fragment in bad.body["message"]
    assert good.status == 200 and len(good.body["detections"]) == 1


def test_a_sliver_and_a_photo_below_the_minimum_are_400s_naming_the_bound(tmp_path):
    core = detector(tmp_path, Stand([(0, 0, 50, 50, 0.9, 0)]))
    sliver, tiny, good = core.answer([raw(photo(1, 300)), raw(photo(3, 3)), raw(photo(30, 30))])
    assert (sliver.status, tiny.status, good.status) == (400, 400, 200)
    assert "the image is 1x300 pixels; this model needs at least 4 on each side (preprocess.min_side)" in sliver.body["message"]


def test_no_detection_is_an_empty_list_and_padding_rows_are_never_answered(tmp_path):
    core = detector(tmp_path, Stand([(0, 0, 50, 50, 0.0, 0), (0, 0, 9, 9, 0.2, 1)]), postprocess={"min_score_threshold": 0.0})
    empty, lowest = core.answer([raw(photo(64, 64)), asking(photo(64, 64), threshold=0.0)])
    assert empty.body["detections"] == [] and [d["score"] for d in lowest.body["detections"]] == [0.2]


def test_keypoints_come_back_named_in_the_photos_pixels(tmp_path):
    [response] = detector(tmp_path, Stand([(10, 35, 60, 60, 0.9, 0)], keypoints=True), keypoints=["center"]).answer(
        [raw(photo(200, 100))])
    assert response.body["detections"][0]["keypoints"] == {"center": [70.0, 45.0]}


def test_v2_typed_outputs_pad_each_photo_to_the_most_detections(tmp_path):
    core = detector(tmp_path, Stand([(0, 0, 50, 50, 0.9, 0), (60, 60, 90, 90, 0.6, 1)], keypoints=True), keypoints=["center"])
    image = base64.b64encode(photo(100, 100)).decode()
    body = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": [image, image],
                        "parameters": {"content_type": "base64"}},
                       {"name": "max_detections", "shape": [2], "datatype": "INT32", "data": [2, 1]}]}
    [response] = core.answer([Request(Payload({"body": json.dumps(body).encode()}, {"body": "application/json"}))])
    outputs = {output["name"]: output for output in response.body["outputs"]}
    assert outputs["boxes"]["shape"] == [2, 2, 4] and outputs["scores"]["data"] == [0.9, 0.6, 0.9, 0.0]
    assert outputs["labels"]["data"] == ["cat", "dog", "cat", ""] and outputs["keypoints"]["shape"] == [2, 2, 1, 2]
    assert response.body["outputs"][0]["name"] == "answer"
    assert core.v2_outputs()[1:] == [{"name": "boxes", "datatype": "FP32", "shape": [-1, -1, 4]},
                                     {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
                                     {"name": "labels", "datatype": "BYTES", "shape": [-1, -1]},
                                     {"name": "keypoints", "datatype": "FP32", "shape": [-1, -1, 1, 2]}]


def test_a_model_breaking_the_contract_is_a_500_naming_it(tmp_path):
    core = detector(tmp_path, lambda batch: torch.zeros(batch.shape[0], 5))
    [response] = core.answer([raw(photo(50, 50))])
    assert response.status == 500 and "an object detector returns (boxes [B, N, 4], scores [B, N], classes [B, N])" in \
        response.body["message"]


def test_geometry_none_runs_each_photo_at_its_own_size(tmp_path):
    model = Stand([(0, 0, 10, 10, 0.9, 0)])
    core = detector(tmp_path, model, {"geometry": "none", "size": None})
    first, second = core.answer([raw(photo(40, 30)), raw(photo(20, 50))])
    assert model.seen == [(1, 3, 30, 40), (1, 3, 50, 20)]
    assert first.body["image"] == {"width": 40, "height": 30} and second.ok


def test_nms_keeps_the_best_of_each_overlapping_group_and_only_those():
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(200, 2, generator=generator) * 100
    boxes = torch.cat([corners, corners + 5 + torch.rand(200, 2, generator=generator) * 30], dim=1)
    scores = torch.rand(200, generator=generator)
    classes = torch.randint(0, 3, (200,), generator=generator)
    kept = batched_nms(boxes, scores, classes, 0.4)
    assert torch.all(scores[kept][:-1] >= scores[kept][1:])  # best first
    overlaps = box_iou(boxes, boxes)
    same = classes[:, None] == classes[None, :]
    for a in kept.tolist():  # no two kept boxes of one class overlap beyond the threshold
        assert not any(same[a, b] and overlaps[a, b] > 0.4 for b in kept.tolist() if b != a)
    for dropped in set(range(200)) - set(kept.tolist()):  # each dropped box lies under a better kept one of its class
        assert any(same[dropped, k] and overlaps[dropped, k] > 0.4 and scores[k] >= scores[dropped] for k in kept.tolist())
    assert nms(torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]]), torch.tensor([0.5, 0.5]), 0.5).tolist() == [0]


@pytest.mark.parametrize("count", [30, 200])
def test_the_python_pass_over_lists_keeps_what_the_torch_pass_keeps(count):
    generator = torch.Generator().manual_seed(count)
    corners = torch.rand(count, 2, generator=generator) * 60
    boxes = torch.cat([corners, corners + 5 + torch.rand(count, 2, generator=generator) * 30], dim=1)
    scores, classes = torch.rand(count, generator=generator), torch.randint(0, 2, (count,), generator=generator)
    scores[1] = scores[0]  # a tie keeps the model's order in both
    in_python = nms_few(boxes.tolist(), scores.tolist(), classes.tolist(), 0.3)
    in_torch = batched_nms(boxes, scores, classes, 0.3)
    assert in_python == in_torch.tolist() and len(in_torch) < count
