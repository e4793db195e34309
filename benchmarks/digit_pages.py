"""The pages the "read a number" comparison sends (``benchmarks/workflow.py``), made here from the digit
detector's own canvases (``examples/digit_boxes/canvases.py``, imported by path) so no build output is needed.

- ``number_page``: a held-out page and the number written on it (its digits' labels left to right, by box centre):
  the measured body;
- ``blank_page``: a white page, on which the detector finds nothing;
- ``faint_page``: a page where the classifier step fails: a clear held-out digit and a faint one (bold strokes
  at 20 % ink, grey 204 on white) that the detector still finds, but whose crop holds no pixel darker than 204,
  which the digits model calls blank (422 "no digit found"). Such a detection does not occur on the training
  canvases (their ink is at least 65 % of the page's contrast), hence a page made on purpose;
- ``not_an_image``: a text body.
"""

from __future__ import annotations

import importlib.util
import io
from types import ModuleType

import numpy as np
from PIL import Image

from benchmarks.bodies import Body
from benchmarks.servers import REPO

__all__ = ["GOLDEN_SEED", "blank_page", "faint_page", "not_an_image", "number_page", "number_of"]

CANVASES = REPO / "examples" / "digit_boxes" / "canvases.py"
GOLDEN_SEED = 7  # examples/digit_boxes/train.py's held-out golden pages: page 0 is its canvas_0.png (five digits)
SIDE = 96  # the canvases' size
# the faint page: (held-out sample, height px, ink 0..1, bold, top, left); the first is clear, the second faint
FAINT = ((1, 24, 1.0, False, 36, 12), (51, 24, 0.2, True, 36, 56))


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


def faint_page() -> Body:
    """A clear digit and a faint one (FAINT), on white."""
    module = canvases()
    digits = module.digit_split("heldout")
    page = np.full((SIDE, SIDE), 255.0)
    drawn = []
    for sample, height, ink, bold, top, left in FAINT:
        cells = digits.ink[sample].astype(np.float32)
        width = round(height * 0.8)
        glyph = np.clip(np.asarray(Image.fromarray(cells, mode="F").resize((width, height), Image.Resampling.BILINEAR)), 0, 1)
        if bold:
            glyph = (glyph >= module.INK_THRESHOLD).astype(np.float32)
        page[top:top + height, left:left + width] -= 255 * ink * glyph
        drawn.append(f"{int(digits.labels[sample])} at {round(100 * ink)} % ink")
    data = png(np.clip(np.rint(page), 0, 255).astype(np.uint8))
    return Body(data, "image/png", f"a white {SIDE}x{SIDE} PNG with a {' and a '.join(drawn)} ({len(data)} bytes)")


def not_an_image() -> Body:
    return Body(b"this is not an image", "image/png", "20 bytes of text sent as image/png")
