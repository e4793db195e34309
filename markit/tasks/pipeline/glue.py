"""The declarative glue between steps, on one request's values: reading a reference, cropping boxes out of an image,
filtering a list, a switch's guard. Each raises ``BadInput`` (or a subclass) naming what it could not do; the graph
adds which node it was."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from ...core.errors import BadInput, UnprocessableInput
from ...core.payload import decode_json_bytes
from ..common.images import decode_scaled
from .manifest import Filter, When

__all__ = ["MISSING", "crop_boxes", "field_of", "filtered", "guard_holds", "parsed_json", "resolve"]

MISSING = object()  # what a dotted field that is not there resolves to
CROP_PNG_LEVEL = 1  # the crops never leave the worker: compress little, encode fast


def resolve(values: Mapping[str, Any], ref: str) -> Any:
    """``found.detections``: the value of node ``found``, then its field ``detections``; ``BadInput`` naming the
    field when a value has no such field (a step's answer is checked against its declared fields at build)."""
    root, *fields = ref.split(".")
    value = values[root]
    for depth, name in enumerate(fields):
        if not isinstance(value, Mapping) or name not in value:
            at = ".".join([root, *fields[:depth]])
            has = f"; it has {sorted(value)}" if isinstance(value, Mapping) else f"; it is a {type(value).__name__}"
            raise UnprocessableInput(f"{at} has no field {name!r}{has}")
        value = value[name]
    return value


def parsed_json(value: Any) -> Any:
    """A value as JSON: bytes or text parsed within the request's JSON limits (``BadInput`` naming what is wrong),
    anything else (already parsed) as it is."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray)):
        return decode_json_bytes("json", bytes(value), "application/json")
    return value


def field_of(item: Any, dotted: str | None) -> Any:
    """An item's dotted field (the item itself for None), or ``MISSING``."""
    value = item
    for name in dotted.split(".") if dotted else ():
        if not isinstance(value, Mapping) or name not in value:
            return MISSING
        value = value[name]
    return value


def crop_boxes(image: Any, detections: Any, margin: int, max_pixels: int, levels: bool = False) -> list[bytes]:
    """The regions of ``image`` (its bytes, decoded upright as the detector saw it) under each detection's ``box``
    ({x1, y1, x2, y2} in its pixels), widened by ``margin`` and clipped to the image, as PNG bytes, in order; with
    ``levels``, grey with the darkest pixel black and the median (the paper) white."""
    if not isinstance(image, (bytes, bytearray)):
        raise BadInput(f"crop: the image is a {type(image).__name__}, not an image's bytes")
    boxes = [_box(detection, index) for index, detection in enumerate(_listed(detections, "crop"))]
    if not boxes:
        return []
    picture, _ = decode_scaled(bytes(image), max_pixels, None, "RGB", upright=True)
    width, height = picture.size
    crops = []
    for x1, y1, x2, y2 in boxes:
        left, top = max(0, math.floor(x1 - margin)), max(0, math.floor(y1 - margin))
        right, bottom = min(width, math.ceil(x2 + margin)), min(height, math.ceil(y2 + margin))
        if right <= left or bottom <= top:
            raise UnprocessableInput(f"crop: box {[x1, y1, x2, y2]} is outside the {width}x{height} image")
        region = picture.crop((left, top, right, bottom))
        crops.append(_png(_stretched(region) if levels else region))
    return crops


def _stretched(region: Image.Image) -> Image.Image:
    grey = np.asarray(region.convert("L"), dtype=np.float32)
    dark, paper = float(grey.min()), float(np.median(grey))
    if paper - dark < 1:
        return Image.fromarray(np.full(grey.shape, 255, np.uint8))  # one level: no ink to tell from the paper
    return Image.fromarray(np.clip((grey - dark) * (255 / (paper - dark)), 0, 255).astype(np.uint8))


def filtered(node: Filter, items: Any) -> list[Any]:
    """The items of a list whose ``label`` is one of the node's labels, whose ``score`` is at least its minimum and
    whose ``box`` overlaps no earlier kept item's by more than its ``max_iou``."""
    kept: list[Any] = []
    boxes: list[tuple[float, float, float, float]] = []
    for index, item in enumerate(_listed(items, "filter")):
        if node.labels is not None and (not isinstance(item, Mapping) or item.get("label") not in node.labels):
            continue
        if node.min_score is not None:
            score = item.get("score") if isinstance(item, Mapping) else None
            if not isinstance(score, (int, float)) or score < node.min_score:
                continue
        if node.max_iou is not None:
            box = _box(item, index, "filter")
            if any(_iou(box, other) > node.max_iou for other in boxes):
                continue
            boxes.append(box)
        kept.append(item)
    return kept


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def guard_holds(when: When | None, item: Any, tables: Mapping[str, Mapping[str, Any]],
                capabilities: Mapping[str, Any] | None = None) -> bool:
    """Whether ``item`` takes the case guarded by ``when`` (None: every item); ``capabilities``: what the case's
    step declares (its archive's ``metadata.capabilities``)."""
    if when is None:
        return True
    if when.in_ is not None:
        return isinstance(item, str) and item in tables[when.in_]
    value = field_of(item, when.looked_at)
    if when.capability is not None:
        declared = (capabilities or {}).get(when.capability) if isinstance(capabilities, Mapping) else None
        declared = declared if isinstance(declared, list) else [declared]
        return value is not MISSING and value in declared
    if when.one_of is not None:
        return value is not MISSING and value in when.one_of
    return value is not MISSING and value == when.equals


def _listed(value: Any, op: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise UnprocessableInput(f"{op}: expected a list, got a {type(value).__name__}")
    return value


def _box(detection: Any, index: int, op: str = "crop") -> tuple[float, float, float, float]:
    box = detection.get("box") if isinstance(detection, Mapping) else None
    try:
        corners = tuple(float(box[key]) for key in ("x1", "y1", "x2", "y2"))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise UnprocessableInput(f"{op}: item {index} has no box {{x1, y1, x2, y2}}") from None
    if not all(math.isfinite(corner) for corner in corners):
        raise UnprocessableInput(f"{op}: item {index}'s box is not finite")
    return corners  # type: ignore[return-value]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=CROP_PNG_LEVEL)
    return buffer.getvalue()
