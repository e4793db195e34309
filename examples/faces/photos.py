"""The photos the port is checked on, made from scikit-image's bundled sample data (nothing fetched, no binary
files committed), and the model's input for one of them.

``reference.py`` (facenet-pytorch's own detector, in its own venv) and the test (the port, in the project's
venv) both call ``photos()``, so both see the same pixels. Only numpy, PIL and skimage are imported: this
module runs in both venvs.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

__all__ = ["normalized", "photos"]

# The astronaut's head and shoulders in skimage.data.astronaut() (rows, columns).
FACE_CROP = (slice(0, 240), slice(110, 350))
GROUP_SIZES = (240, 150, 96)   # the crop pasted three times, each this many pixels square
GROUP_BACKGROUND = (128, 128, 128)


def photos() -> dict[str, Image.Image]:
    """Name -> RGB photo: one face in colour, one in greyscale, three faces at three scales, no face."""
    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "camera": Image.fromarray(data.camera()).convert("RGB"),
        "group": _group(),
        "coffee": Image.fromarray(data.coffee()),
    }


def normalized(photo: Image.Image) -> np.ndarray:
    """The model's input for one photo: [3, H, W] float32, ``(pixel / 255 - 0.5) / (128 / 255)``, which is
    MTCNN's own ``(pixel - 127.5) * 0.0078125`` up to float rounding, written as the task's preprocessing
    (mean 0.5, std 128/255) computes it."""
    pixels = np.asarray(photo.convert("RGB"), dtype=np.float32) / np.float32(255)
    scaled = (pixels - np.float32(0.5)) / np.float32(128 / 255)
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))


def _group() -> Image.Image:
    """Three copies of the astronaut's face side by side, large to small: faces of about 120, 75 and 48 px,
    all above MTCNN's 20 px minimum."""
    face = Image.fromarray(data.astronaut()[FACE_CROP])
    canvas = Image.new("RGB", (sum(GROUP_SIZES) + 20 * (len(GROUP_SIZES) + 1), max(GROUP_SIZES) + 40), GROUP_BACKGROUND)
    left = 20
    for size in GROUP_SIZES:
        canvas.paste(face.resize((size, size), Image.Resampling.BICUBIC), (left, 20 + (max(GROUP_SIZES) - size) // 2))
        left += size + 20
    return canvas
