"""Drawing an answer on its photo, so a person can see it: ``python -m markit.client.annotate PHOTO ANSWER.json OUT.png``.

A detector's answer (``{"detections": [{"label", "score", "box", "keypoints"?}]}``) is drawn as boxes with their
label and score, and its keypoints as dots; a segmenter's (``{"mask": {"png", ...}}``) as its mask tinted over
the photo. The photo is turned upright by its EXIF orientation first, as the answer's coordinates are. Pillow
only: no torch.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

__all__ = ["annotate", "main"]

COLORS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
          (210, 245, 60), (250, 190, 212), (0, 128, 128))


def annotate(photo: bytes, answer: Mapping[str, Any]) -> Image.Image:
    """The upright photo with the answer drawn on it."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(photo))).convert("RGB")
    if "mask" in answer:
        return _tinted(image, answer["mask"])
    return _boxed(image, answer.get("detections") or [])


def _boxed(image: Image.Image, detections: Sequence[Mapping[str, Any]]) -> Image.Image:
    draw = ImageDraw.Draw(image)
    width = max(1, round(max(image.size) / 200))
    labels = sorted({detection["label"] for detection in detections})
    for detection in detections:
        color = COLORS[labels.index(detection["label"]) % len(COLORS)]
        box = detection["box"]
        draw.rectangle((box["x1"], box["y1"], box["x2"], box["y2"]), outline=color, width=width)
        draw.text((box["x1"] + width, box["y1"] + width), f"{detection['label']} {detection['score']:.2f}", fill=color)
        radius = max(1.0, (box["x2"] - box["x1"]) / 30)  # points in proportion to their object
        for x, y in (detection.get("keypoints") or {}).values():
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    return image


def _tinted(image: Image.Image, mask: Mapping[str, Any]) -> Image.Image:
    classes = Image.open(io.BytesIO(base64.b64decode(mask["png"]))).resize(image.size, Image.Resampling.NEAREST)
    palette = [value for index in range(256) for value in ((0, 0, 0) if index == 0 else COLORS[(index - 1) % len(COLORS)])]
    colored = classes.convert("P")
    colored.putpalette(palette)
    tinted = Image.blend(image, colored.convert("RGB"), 0.5)
    return Image.composite(tinted, image, classes.convert("L").point(lambda index: 255 if index else 0))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.client.annotate", description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path, help="the photo that was sent")
    parser.add_argument("answer", type=Path, help="the answer's JSON (a /predictions answer), '-' for standard input")
    parser.add_argument("output", type=Path, help="the PNG to write")
    args = parser.parse_args(argv)
    answer = json.load(sys.stdin) if str(args.answer) == "-" else json.loads(args.answer.read_text(encoding="utf-8"))
    annotate(args.photo.read_bytes(), answer).save(args.output, format="PNG")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
