"""Non-maximum suppression in a few lines of torch (torchvision does not import beside the project's torch).

Its semantics are torchvision's ``nms``/``batched_nms``: candidates in order of score (highest first, ties in
their original order); a candidate whose IoU with a kept one of the same class is above the threshold is
dropped. The work is bounded: at most ``MAX_CANDIDATES`` candidates (the best by score) enter it.

``nms_few`` is the same pass over plain lists, for the few candidates a photo usually has above its threshold:
each tensor step costs microseconds, more than the whole pass in Python at that size (its IoU is computed in
double precision, so a pair within ~1e-7 of the threshold may be decided differently than in float32).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["FEW", "MAX_CANDIDATES", "batched_nms", "box_iou", "nms", "nms_few"]

MAX_CANDIDATES = 4096  # an IoU matrix of 4096^2 floats is 64 MiB; a model's candidates above a threshold are fewer
FEW = 64  # up to this many candidates ``nms_few`` (plain Python) is the faster pass (measured); beyond it ``batched_nms``


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` [n, 4] with every box of ``b`` [m, 4] (x1, y1, x2, y2) -> [n, m]."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = area_a[:, None] + area_b[None, :] - overlap
    return torch.where(union > 0, overlap / union, torch.zeros_like(union))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """The indices of the boxes kept, highest score first."""
    order = torch.sort(scores, descending=True, stable=True).indices[:MAX_CANDIDATES]
    if len(order) <= 1:
        return order
    suppresses = box_iou(boxes[order].float(), boxes[order].float()) > iou_threshold
    keep = torch.ones(len(order), dtype=torch.bool)
    for index in range(len(order)):
        if keep[index]:
            keep[index + 1:] &= ~suppresses[index, index + 1:]
    return order[keep]


def nms_few(boxes: Sequence[Sequence[float]], scores: Sequence[float], classes: Sequence[int], iou_threshold: float) -> list[int]:
    """``batched_nms`` over plain lists: the indices of the boxes kept, highest score first."""
    order = sorted(range(len(scores)), key=lambda index: -scores[index])  # stable: ties keep their order
    kept: list[int] = []
    for index in order:
        box, kind = boxes[index], classes[index]
        if not any(classes[other] == kind and _iou(box, boxes[other]) > iou_threshold for other in kept):
            kept.append(index)
    return kept


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    area_a = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    area_b = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    overlap = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    union = area_a + area_b - overlap
    return overlap / union if union > 0 else 0.0


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """``nms`` within each class: boxes of different classes never suppress each other (each class's boxes are
    moved apart by more than every box's extent, as torchvision does)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64)
    span = boxes.float().max() - boxes.float().min() + 1
    return nms(boxes.float() + (classes.to(boxes.dtype if boxes.is_floating_point() else torch.float32) * span)[:, None],
               scores, iou_threshold)
