"""Held-out pages of handwritten digits (examples/digit_boxes/canvases.py) and the number each one shows: its
digits ordered by their boxes' centres, left to right, as the pipeline reads them."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

__all__ = ["GOLDEN_SEED", "HELD_OUT_SEED", "held_out_pages", "png", "true_number"]

HERE = Path(__file__).resolve().parent
GOLDEN_SEED = 26       # the golden pages
HELD_OUT_SEED = 2026   # the pages evaluate.py measures on; neither seed is one training used


def canvases() -> ModuleType:
    """examples/digit_boxes/canvases.py, loaded by path."""
    name = "read_number_canvases"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "digit_boxes" / "canvases.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def held_out_pages(count: int, seed: int) -> list[Any]:
    """``count`` pages drawn from the held-out digit samples (neither model trained on them)."""
    return canvases().make_canvases("heldout", count, seed)


def true_number(page: Any) -> str:
    """The page's digits ordered by their boxes' centres, left to right."""
    order = sorted(range(len(page.labels)), key=lambda i: float(page.boxes[i][0] + page.boxes[i][2]))
    return "".join(str(int(page.labels[i])) for i in order)


def png(page: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(page.image).save(buffer, format="PNG")
    return buffer.getvalue()
