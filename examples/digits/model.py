"""A small CNN for handwritten digits that reads what a person sends (seed 001's convention).

``preprocess`` takes a PNG/JPEG of a digit drawn dark on a light background, at any size, or an
8x8 array of ink values 0..16 (scikit-learn's digits format) as JSON, and applies the training
set's normalization, which reaches the model as the ``normalization`` artifact of its archive.
``postprocess`` turns one row of logits into ``{"digit", "probability"}``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import nn

SIDE = 8          # the model sees 8x8 cells of ink 0..16
BITMAP = 32       # like the original data: a 32x32 bitmap counted in 4x4 blocks
MAX_PIXELS = 25_000_000


class DigitNet(nn.Module):
    # what a KServe v2 request carries per instance (the convention task reads it; an image goes to /predictions)
    v2_inputs = ({"name": "x", "datatype": "FP32", "shape": [SIDE, SIDE], "description": "an 8x8 array of ink values 0..16"},)

    def __init__(self, artifacts: Mapping[str, Any], channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * channels * 16, 64), nn.ReLU(), nn.Linear(64, 10),
        )
        normalization = json.loads(Path(artifacts["normalization"]).read_text(encoding="utf-8"))
        self.mean = float(normalization["mean"])
        self.std = float(normalization["std"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    # -- the convention --------------------------------------------------------------------
    def preprocess(self, raw: Any) -> torch.Tensor:
        """Image bytes, an 8x8 JSON array or a v2 tensor's 8x8 row (a numpy array) of ink 0..16 -> normalized tensor
        of shape (1, 8, 8)."""
        if isinstance(raw, (bytes, bytearray)):
            cells = image_to_cells(bytes(raw))
        elif isinstance(raw, dict) and set(raw) == {"pixels"}:
            cells = array_to_cells(raw["pixels"])
        elif isinstance(raw, (list, np.ndarray)):
            cells = array_to_cells(raw)
        else:
            raise ValueError("send a PNG/JPEG of one digit, or an 8x8 JSON array of ink values 0..16 (optionally as {\"pixels\": ...})")
        return self.normalize(cells)

    def normalize(self, cells: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((cells - self.mean) / self.std).astype(np.float32))[None]

    def postprocess(self, logits: torch.Tensor) -> dict[str, Any]:
        probabilities = torch.softmax(logits.float(), dim=0)
        digit = int(torch.argmax(probabilities))
        return {"digit": digit, "probability": round(float(probabilities[digit]), 6)}


def array_to_cells(value: Any) -> np.ndarray:
    try:
        cells = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the JSON array must hold numbers only: {err}") from err
    if cells.shape != (SIDE, SIDE):
        raise ValueError(f"expected an 8x8 array of ink values, got shape {list(cells.shape)}")
    if not np.isfinite(cells).all() or cells.min() < 0 or cells.max() > 16:
        raise ValueError("ink values must be finite numbers from 0 to 16")
    return cells


def image_to_cells(data: bytes) -> np.ndarray:
    """A photo or drawing of one digit -> 8x8 ink 0..16, the way the training data was made: the
    digit's bounding box scaled (aspect kept) into a 32x32 bitmap, ink summed in 4x4 blocks."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise ValueError(f"the image has {image.size[0] * image.size[1]} pixels; send at most {MAX_PIXELS}")
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "P"):
            image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        gray = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    except UnidentifiedImageError as err:
        raise ValueError(f"the body ({len(data)} bytes) is not an image Pillow can read; send PNG or JPEG") from err
    except (OSError, SyntaxError) as err:
        raise ValueError(f"the image is truncated or corrupt: {err}") from err
    ink = 1.0 - gray
    if ink.mean() > 0.5:  # light digit on a dark background
        ink = 1.0 - ink
    rows, cols = np.nonzero(ink > 0.05) if ink.max() > 0.2 else ((), ())
    if len(rows) == 0:
        raise ValueError("no digit found: the image is blank; draw the digit dark on a light background")
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    return _bitmap_cells(crop)


def _bitmap_cells(crop: np.ndarray) -> np.ndarray:
    height, width = crop.shape
    scale = BITMAP / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    scaled = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.Resampling.BOX), dtype=np.float64)
    bitmap = np.zeros((BITMAP, BITMAP))
    top, left = (BITMAP - size[1]) // 2, (BITMAP - size[0]) // 2
    bitmap[top:top + size[1], left:left + size[0]] = scaled / 255.0  # ink coverage, as a fraction of each pixel
    return bitmap.reshape(SIDE, 4, SIDE, 4).sum(axis=(1, 3))
