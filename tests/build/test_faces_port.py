"""The MTCNN face detector ported from facenet-pytorch 2.6.0 (examples/faces) finds what the package's own
detector finds on real photos: the same faces, every box corner and landmark within 1 px, every score within
1e-4, nothing on a photo without a face. The package's answers are examples/faces/reference.json (made by
reference.py in its own venv, since facenet-pytorch imports torchvision); its weights come from the package's
data files through weights.py, loaded as the builder loads them (safetensors, strict load_state_dict)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from helpers import REPO, import_file

FACES = REPO / "examples" / "faces"
REFERENCE = json.loads((FACES / "reference.json").read_text(encoding="utf-8"))
PHOTOS = import_file(FACES / "photos.py", "faces_photos_for_tests")
MODEL = import_file(FACES / "model.py", "faces_model_for_tests")
BOX_PX, SCORE, LANDMARK_PX = 1.0, 1e-4, 1.0


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """weights.py's output: the package's three state dicts as one safetensors file, the cascade's constants."""
    output = tmp_path_factory.mktemp("faces")
    done = subprocess.run([sys.executable, str(FACES / "weights.py"), "--output", str(output)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return output


@pytest.fixture(scope="module")
def detector(built):
    model = MODEL.Mtcnn(artifacts={"cascade": str(built / "cascade.json")})
    model.load_state_dict(load_file(str(built / "weights.safetensors")), strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def photos():
    return PHOTOS.photos()


def detect(detector, images: list[Image.Image]) -> tuple[torch.Tensor, ...]:
    batch = torch.from_numpy(np.stack([PHOTOS.normalized(image) for image in images]))
    with torch.inference_mode():
        return detector(batch)


def largest_first(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, ...]:
    """The package's detect() order (select_largest, its default): by box area, largest first."""
    order = np.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[::-1]
    return boxes[order], scores[order], points[order]


def compare(found: tuple[np.ndarray, ...], expected: dict) -> dict[str, float]:
    """Element by element, within the tolerances; the largest differences."""
    boxes, scores, points = largest_first(*found)
    assert len(boxes) == len(expected["boxes"]), f"{len(boxes)} faces, the package finds {len(expected['boxes'])}"
    if not len(boxes):
        return {}
    np.testing.assert_allclose(boxes, np.array(expected["boxes"]), rtol=0, atol=BOX_PX, err_msg="boxes")
    np.testing.assert_allclose(scores, np.array(expected["probs"]), rtol=0, atol=SCORE, err_msg="scores")
    np.testing.assert_allclose(points, np.array(expected["landmarks"]), rtol=0, atol=LANDMARK_PX, err_msg="landmarks")
    return {"box": float(np.abs(boxes - expected["boxes"]).max()), "score": float(np.abs(scores - expected["probs"]).max()),
            "landmark": float(np.abs(points - expected["landmarks"]).max())}


def test_the_reference_is_facenet_pytorchs_own_detector_on_these_photos(photos):
    assert REFERENCE["versions"]["facenet-pytorch"] == "2.6.0" and "examples/faces/reference.py" in REFERENCE["command"]
    assert list(REFERENCE["photos"]) == list(photos)
    assert [len(REFERENCE["photos"][name]["boxes"]) for name in photos] == [1, 1, 3, 0]


@pytest.mark.parametrize("name", ["astronaut", "camera", "group", "coffee"])
def test_each_photo_has_the_faces_facenet_pytorch_finds(detector, photos, name):
    boxes, scores, classes, points = detect(detector, [photos[name]])
    count = len(REFERENCE["photos"][name]["boxes"])
    assert boxes.shape == (1, count, 4) and scores.shape == (1, count) and points.shape == (1, count, 5, 2)
    assert boxes.dtype == scores.dtype == points.dtype == torch.float32 and classes.dtype == torch.int64
    assert not classes.any() and bool((scores > 0.7).all())
    assert torch.equal(scores[0], scores[0].sort(descending=True).values)  # each image's faces by descending score
    diffs = compare((boxes[0].numpy(), scores[0].numpy(), points[0].numpy()), REFERENCE["photos"][name])
    print(name, diffs)


def test_the_comparison_fails_on_any_element_off_by_more_than_its_tolerance(detector, photos):
    boxes, scores, _, points = (array[0].numpy() for array in detect(detector, [photos["group"]]))
    expected = REFERENCE["photos"]["group"]
    compare((boxes, scores, points), expected)
    for array, index, shift in ((boxes, (2, 3), BOX_PX), (scores, (1,), SCORE), (points, (1, 4, 0), LANDMARK_PX)):
        original = array[index]
        array[index] = original + 1.05 * shift
        with pytest.raises(AssertionError):
            compare((boxes, scores, points), expected)
        array[index] = original
    with pytest.raises(AssertionError, match="faces"):
        compare((boxes[:2], scores[:2], points[:2]), expected)


def test_a_batch_answers_as_each_image_alone_and_pads_with_zero_rows(detector, photos):
    group = photos["group"]
    blank = Image.new("RGB", group.size, (128, 128, 128))
    boxes, scores, classes, points = detect(detector, [blank, group])
    alone = detect(detector, [group])
    assert boxes.shape == (2, 3, 4) and classes.shape == (2, 3) and points.shape == (2, 3, 5, 2)
    assert not boxes[0].any() and not scores[0].any() and not points[0].any() and not classes.any()
    for batched, single in zip((boxes, scores, points), (alone[0], alone[1], alone[3]), strict=True):
        torch.testing.assert_close(batched[1:], single, rtol=0, atol=1e-4)


def test_an_image_smaller_than_the_smallest_face_has_none(detector):
    boxes, scores, classes, points = detector(torch.zeros(1, 3, 16, 16))
    assert boxes.shape == (1, 0, 4) and scores.shape == classes.shape == (1, 0) and points.shape == (1, 0, 5, 2)


def test_nms_keeps_torchvisions_boxes_on_its_edge_cases():
    # IoU 30/100 is float32 0.30000001 > 0.3: torchvision compares in float64 and drops the second box
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 3.0]])
    assert MODEL.nms(boxes, torch.tensor([0.9, 0.8]), 0.3).tolist() == [0]
    # equal scores: the lower index is kept first (torchvision: stable sort)
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10.0], [20, 20, 30, 30]])
    assert MODEL.nms(boxes, torch.full((3,), 0.5), 0.5).tolist() == [0, 2]
    # 'Min': a box inside another overlaps it fully, whatever its size
    boxes = torch.tensor([[0, 0, 99, 99], [10, 10, 19, 19.0], [200, 0, 209, 9]])
    assert MODEL.nms_min(boxes, torch.tensor([0.7, 0.9, 0.8]), 0.7).tolist() == [1, 2]


def test_a_broken_cascade_file_fails_at_load(tmp_path):
    path = tmp_path / "cascade.json"
    path.write_text(json.dumps({"min_face_size": 20, "thresholds": [0.6, 0.7], "factor": 0.709}))
    with pytest.raises(ValueError, match="thresholds"):
        MODEL.Mtcnn(artifacts={"cascade": str(path)})
    path.write_text(json.dumps({"min_face_size": 20, "threshold": [0.6, 0.7, 0.7], "factor": 0.709}))
    with pytest.raises(ValueError, match="exactly the keys"):
        MODEL.Mtcnn(artifacts={"cascade": str(path)})
