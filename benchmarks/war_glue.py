"""The function nodes of the "read a number" workflow (``benchmarks/workflow.py``): the handler file of its ``.war``.

TorchServe 0.12 runs each function the workflow's DAG names in a worker of its own (one worker, batch size 1,
no batch delay: fixed by its ``WorkFlow.java``, not configurable) as ``function(data, context)``, ``data`` a batch
of requests. A node gets the bytes its predecessors answered, without a content type: one field ``body`` when it
has one predecessor, else one field per predecessor named after it. Only the start node sees the request, so the
page reaches ``crop`` through a start node that passes it on:

    page ──▶ digit_boxes ──▶ crop ──▶ digits ──▶ read
      └──────────────────────▲  └───────────────────▲
                                (digit_boxes also feeds read)

- ``page``: the request's body, passed on unchanged to the detector and to ``crop``;
- ``crop``: the page and the detector's answer -> ONE KServe v1 request for the classifier,
  ``{"instances": [{"b64": <PNG of a crop>}, ...]}`` in the detector's order (a node sends one body to the
  next node, never several; the digits archive answers a v1 body with one answer per instance);
- ``read``: the detector's answer and the classifier's -> ``{"number", "digits"}``, the digits left to right.

What ``crop`` and ``read`` do is what our pipeline archive's graph does (``examples/read_number/spec.yaml``): one
box per digit (a detection whose box overlaps an earlier kept one's by more than IoU 0.5 is dropped: the
detector's NMS is per class, so an unsure digit can come twice under two labels), each box widened by 2 px,
its crop in grey with its levels stretched (its darkest pixel black, its median, the paper, white), as a PNG
(compression level 1); each digit answered with its box and the detector's label, ordered by the box's centre.

A step that refuses its input still reaches the next node as its input: TorchServe 0.12 completes a workflow
node with whatever body its handler answered, whatever the status. So each node checks the answer it got, and
on a refusal raises TorchServe's ``PredictionException`` naming the step, its status and its message: raising
is the only way a node can fail a workflow request (the workflow answers 200 with the last node's output otherwise).

This file is copied into the archive as it is and imported by path in TorchServe's workers: it imports nothing
from this repository, only the standard library, numpy, Pillow and TorchServe's own ``PredictionException``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from ts.utils.util import PredictionException

__all__ = ["MARGIN", "crop", "crop_box", "crop_pngs", "crops_request", "iou", "one_per_digit", "page", "read", "reading", "step_failed",
           "stretched"]

MARGIN = 2  # pixels added to every side of a detected box before it is cropped
MAX_IOU = 0.5  # a detection overlapping an earlier kept one's box by more is the same digit
PNG_LEVEL = 1  # the crops' PNG compression: they only travel to the classifier
DETECTOR, CLASSIFIER = "digit_boxes", "digits"  # the DAG's model nodes, as they name the fields they feed


def step_failed(step: str, status: int, message: str) -> PredictionException:
    """A step refused its input (or answered something unreadable): TorchServe's own exception, which carries a
    status to the frontend, with a message naming the step, its status and its message."""
    return PredictionException(f"step {step} failed: {status}: {message}", status)


def crop_box(box: Mapping[str, float], width: int, height: int, margin: int = MARGIN) -> tuple[int, int, int, int]:
    """``box`` (page pixels, x1 y1 x2 y2) widened by ``margin`` on every side: left/top floored, right/bottom
    ceiled, clipped to the page; as Pillow's ``crop`` takes it (left, top, right, bottom)."""
    left = max(0, math.floor(float(box["x1"]) - margin))
    top = max(0, math.floor(float(box["y1"]) - margin))
    right = min(width, math.ceil(float(box["x2"]) + margin))
    bottom = min(height, math.ceil(float(box["y2"]) + margin))
    return left, top, right, bottom


def one_per_digit(detections: Sequence[Mapping[str, Any]], max_iou: float = MAX_IOU) -> list[Mapping[str, Any]]:
    """The detections in order, less each whose box overlaps an earlier kept one's by more than ``max_iou``."""
    kept: list[Mapping[str, Any]] = []
    for detection in detections:
        if all(iou(detection["box"], other["box"]) <= max_iou for other in kept):
            kept.append(detection)
    return kept


def iou(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    width = min(a["x2"], b["x2"]) - max(a["x1"], b["x1"])
    height = min(a["y2"], b["y2"]) - max(a["y1"], b["y1"])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a["x2"] - a["x1"]) * (a["y2"] - a["y1"]) + (b["x2"] - b["x1"]) * (b["y2"] - b["y1"]) - inter
    return inter / union if union > 0 else 0.0


def stretched(region: Image.Image) -> Image.Image:
    """The crop in grey, its darkest pixel black and its median (the paper) white; all white when it has one level."""
    grey = np.asarray(region.convert("L"), dtype=np.float32)
    dark, paper = float(grey.min()), float(np.median(grey))
    if paper - dark < 1:
        return Image.fromarray(np.full(grey.shape, 255, np.uint8))
    return Image.fromarray(np.clip((grey - dark) * (255 / (paper - dark)), 0, 255).astype(np.uint8))


def crop_pngs(page_bytes: bytes, detections: Sequence[Mapping[str, Any]], margin: int = MARGIN) -> list[bytes]:
    """Each detection's crop of the page (upright, as the detector saw it), levels stretched, as a PNG."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(page_bytes)))
    crops = []
    for detection in detections:
        buffer = io.BytesIO()
        region = image.crop(crop_box(detection["box"], image.width, image.height, margin))
        stretched(region).save(buffer, format="PNG", compress_level=PNG_LEVEL)
        crops.append(buffer.getvalue())
    return crops


def crops_request(page_bytes: bytes, detections: Sequence[Mapping[str, Any]], margin: int = MARGIN) -> bytes:
    """The classifier's one request: each detection's crop (``crop_pngs``), a v1 instance each."""
    instances = [{"b64": base64.b64encode(crop).decode("ascii")} for crop in crop_pngs(page_bytes, detections, margin)]
    return json.dumps({"instances": instances}).encode("utf-8")


def reading(detections: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The number: each detection paired with the classifier's result for its crop, sorted by the box's centre x."""
    if len(detections) != len(results):
        raise step_failed(CLASSIFIER, 500, f"{len(results)} answers for {len(detections)} crops")
    paired = sorted(zip(detections, results, strict=True), key=lambda pair: (pair[0]["box"]["x1"] + pair[0]["box"]["x2"]) / 2)
    digits = [{"digit": int(result["digit"]), "probability": result["probability"], "box": detection["box"],
               "detector_label": detection.get("label")} for detection, result in paired]
    return {"number": "".join(str(digit["digit"]) for digit in digits), "digits": digits}


def detections_of(answer: Any) -> list[dict[str, Any]]:
    """The detector's detections, or a step_failed with its refusal."""
    found = _json(DETECTOR, answer)
    if not isinstance(found, dict) or not isinstance(found.get("detections"), list):
        raise _refusal(DETECTOR, found)
    return found["detections"]


def results_of(answer: Any) -> list[dict[str, Any]]:
    """The classifier's result for each crop (its v1 answer: ``predictions``, one per instance), or a step_failed."""
    found = _json(CLASSIFIER, answer)
    if not isinstance(found, dict) or not isinstance(found.get("predictions"), list):
        raise _refusal(CLASSIFIER, found)
    results = [item.get("result") if isinstance(item, dict) else None for item in found["predictions"]]
    if not all(isinstance(result, dict) and "digit" in result for result in results):
        raise step_failed(CLASSIFIER, 500, f"an answer without a digit: {json.dumps(found)[:300]}")
    return results


def _json(step: str, answer: Any) -> Any:
    if isinstance(answer, (bytes, bytearray)):
        try:
            return json.loads(bytes(answer).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise step_failed(step, 500, f"its answer is not JSON: {err}") from err
    return answer


def _refusal(step: str, answer: Any) -> PredictionException:
    """The step's own error body (``{"code", "type", "message"}``) as a step_failed."""
    if isinstance(answer, dict) and "message" in answer:  # TorchServe's error shape, as the handlers answer it
        code = answer.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        return step_failed(step, status, f"{answer.get('type', 'error')}: {answer['message']}")
    return step_failed(step, 500, f"an unexpected answer: {json.dumps(answer)[:300]}")


# -- the DAG's function nodes (TorchServe's workflow entry points) ---------------------------------------------

def page(data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
    """The request's body, passed on as it came."""
    if data is None:  # TorchServe calls each function once with no data when its worker starts
        return None
    return [item.get("body", item.get("data")) for item in data]


def crop(data: list[dict[str, Any]] | None, context: Any) -> list[bytes] | None:
    """The page (from ``page``) and the detector's answer -> the classifier's one v1 request."""
    if data is None:
        return None
    return [crops_request(bytes(item["page"]), one_per_digit(detections_of(item[DETECTOR]))) for item in data]


def read(data: list[dict[str, Any]] | None, context: Any) -> list[dict[str, Any]] | None:
    """The detector's answer and the classifier's -> the number. With nothing detected the classifier's answer
    (its refusal of an empty request) is not read: the number is empty."""
    if data is None:
        return None
    answers = []
    for item in data:
        detections = one_per_digit(detections_of(item[DETECTOR]))
        answers.append(reading(detections, results_of(item[CLASSIFIER])) if detections else {"number": "", "digits": []})
    return answers
