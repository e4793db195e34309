"""Drawing an answer on its photo (markit/client/annotate.py): boxes, keypoints and masks land where the answer says."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from markit.client.annotate import COLORS, annotate, main


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_box_and_its_keypoints_are_drawn_where_the_answer_says():
    photo = png(Image.new("RGB", (100, 80), (255, 255, 255)))
    answer = {"detections": [{"label": "face", "score": 0.99, "box": {"x1": 10, "y1": 20, "x2": 60, "y2": 70},
                              "keypoints": {"nose": [35, 45]}}]}
    drawn = annotate(photo, answer)
    assert drawn.size == (100, 80)
    assert drawn.getpixel((10, 50)) == COLORS[0] and drawn.getpixel((60, 50)) == COLORS[0]  # left and right edges
    assert drawn.getpixel((35, 45)) == COLORS[0] and drawn.getpixel((80, 10)) == (255, 255, 255)


def test_a_mask_is_tinted_over_its_classes_only(tmp_path):
    classes = np.zeros((40, 50), dtype=np.uint8)
    classes[:, 25:] = 2
    answer = {"mask": {"width": 50, "height": 40, "png": base64.b64encode(png(Image.fromarray(classes))).decode()}}
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    (tmp_path / "photo.png").write_bytes(png(Image.new("RGB", (100, 80), (200, 200, 200))))
    assert main([str(tmp_path / "photo.png"), str(tmp_path / "answer.json"), str(tmp_path / "out.png")]) == 0
    drawn = Image.open(tmp_path / "out.png")
    assert drawn.getpixel((10, 40)) == (200, 200, 200)  # background: untouched
    tinted = drawn.getpixel((90, 40))  # class 2: half the photo, half class 2's color
    assert all(abs(value - (200 + color) / 2) <= 1 for value, color in zip(tinted, COLORS[1], strict=True))
