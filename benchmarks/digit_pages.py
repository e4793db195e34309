"""The pages the "read a number" comparison sends (``benchmarks/workflow.py``), made here from the digit
detector's own canvases (``examples/digit_boxes/canvases.py``, imported by path) so no build output is needed.

- ``number_page``: a held-out page and the number written on it (its digits' labels left to right, by box centre):
  the measured body;
- ``blank_page``: a white page, on which the detector finds nothing;
- ``bold_page``: a page where the classifier step fails: a clear held-out digit and a bold one (its strokes
  thickened, solid black) that the detector finds, but whose crop is more than half solid ink, so that with its
  levels stretched (the darkest pixel black, the median white: the pipeline's crop) it is all white, which the
  digits model refuses as blank (422 "no digit found"). Such a digit does not occur on the training canvases
  (thin, smooth strokes), hence a page made on purpose;
- ``not_an_image``: a text body.
"""

from __future__ import annotations

import importlib.util
import io
from types import ModuleType

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.bodies import Body
from benchmarks.servers import REPO

__all__ = ["BOLD", "GOLDEN_SEED", "blank_page", "bold_page", "not_an_image", "number_page", "number_of"]

CANVASES = REPO / "examples" / "digit_boxes" / "canvases.py"
GOLDEN_SEED = 7  # examples/digit_boxes/train.py's held-out golden pages: page 0 is its canvas_0.png (five digits)
SIDE = 96  # the canvases' size
# the bold page: (held-out sample, height px, stroke growth px (a max filter's size, 1: none), top, left)
BOLD = ((1, 24, 1, 36, 12), (8, 32, 5, 30, 52))


def canvases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("digit_boxes_canvases", CANVASES)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {CANVASES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def number_of(boxes: np.ndarray, labels: np.ndarray) -> str:
    """The digits read left to right: ``labels`` ordered by their boxes' centre x ((x1 + x2) / 2, ties kept in order)."""
    order = np.argsort((boxes[:, 0] + boxes[:, 2]) / 2, kind="stable")
    return "".join(str(int(labels[index])) for index in order)


def number_page(index: int = 0, seed: int = GOLDEN_SEED) -> tuple[Body, str]:
    """Held-out page ``index`` of ``seed`` as a PNG, and the number written on it."""
    page = canvases().make_canvases("heldout", index + 1, seed)[index]
    number = number_of(page.boxes, page.labels)
    data = png(page.image)
    return Body(data, "image/png", f"held-out page {index} of seed {seed}, {SIDE}x{SIDE} PNG of {len(number)} digits "
                                   f"reading {number} ({len(data)} bytes)"), number


def blank_page() -> Body:
    data = png(np.full((SIDE, SIDE), 255, np.uint8))
    return Body(data, "image/png", f"a white {SIDE}x{SIDE} PNG ({len(data)} bytes)")


def bold_page() -> Body:
    """A clear digit and a bold one (BOLD), solid black on white."""
    module = canvases()
    digits = module.digit_split("heldout")
    page = np.full((SIDE, SIDE), 255, np.uint8)
    drawn = []
    for sample, height, growth, top, left in BOLD:
        cells = digits.ink[sample].astype(np.float32)
        width = round(height * 0.8)
        glyph = np.clip(np.asarray(Image.fromarray(cells, mode="F").resize((width, height), Image.Resampling.BILINEAR)), 0, 1)
        strokes = Image.fromarray(((glyph >= module.INK_THRESHOLD) * 255).astype(np.uint8))
        if growth > 1:
            strokes = strokes.filter(ImageFilter.MaxFilter(growth))
        page[top:top + height, left:left + width][np.asarray(strokes) > 0] = 0
        drawn.append(f"{int(digits.labels[sample])}" + (f" with strokes {growth - 1} px thicker" if growth > 1 else ""))
    data = png(page)
    return Body(data, "image/png", f"a white {SIDE}x{SIDE} PNG with a {' and a '.join(drawn)}, solid black ({len(data)} bytes)")


def not_an_image() -> Body:
    return Body(b"this is not an image", "image/png", "20 bytes of text sent as image/png")
