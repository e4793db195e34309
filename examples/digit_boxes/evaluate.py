"""Measure the trained digit detector: mAP@0.5 on held-out canvases.

    python examples/digit_boxes/evaluate.py [--output DIR] [--canvases 500]

reads DIR/build (written by train.py --output DIR), draws held-out canvases (digit samples never used in
training), keeps each page's candidates above a score of 0.05, applies class-wise NMS at IoU 0.5 (here,
because the model has none) and prints VOC-style mAP@0.5: all-point interpolated AP, averaged over the
10 digits.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from safetensors.torch import load_file

from markit.tasks.object_detection.nms import batched_nms, box_iou

HERE = Path(__file__).resolve().parent
HELD_OUT_SEED = 2024    # held-out canvases: the train.py printout and this script draw the same pages
SCORE_THRESHOLD = 0.05
NMS_IOU = 0.5
MATCH_IOU = 0.5
DIGITS = 10

Detections = tuple[torch.Tensor, torch.Tensor, torch.Tensor]   # boxes [n, 4], scores [n], classes [n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=HERE, help="the directory train.py wrote build/ into")
    parser.add_argument("--canvases", type=int, default=500, help="how many held-out canvases to measure on")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.output / "build")
    score = held_out_map(model, args.canvases)
    print(f"mAP@0.5: {score:.4f} on {args.canvases} held-out canvases "
          f"(score >= {SCORE_THRESHOLD}, class-wise NMS at IoU {NMS_IOU})")
    return 0


def sibling(name: str) -> ModuleType:
    """A module of this folder, imported by path: the scripts run from anywhere and change no sys.path."""
    spec = importlib.util.spec_from_file_location(f"digit_boxes_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_model(build: Path) -> torch.nn.Module:
    """The detector as the builder would load it: the class from model.py, the artifacts, the safetensors weights."""
    model = sibling("model").DigitBoxes(artifacts={name: str(build / f"{name}.json") for name in ("decoding", "normalization")})
    model.load_state_dict(load_file(str(build / "weights.safetensors")))
    return model.eval()


def held_out_map(model: torch.nn.Module, count: int, batch: int = 100) -> float:
    """mAP@0.5 of ``model`` on the first ``count`` held-out canvases of HELD_OUT_SEED."""
    pages = sibling("canvases").make_canvases("heldout", count, HELD_OUT_SEED)
    detections = []
    for start in range(0, count, batch):
        detections += detect(model, np.stack([page.image for page in pages[start:start + batch]]))
    truths = [(torch.from_numpy(page.boxes), torch.from_numpy(page.labels)) for page in pages]
    return mean_average_precision(detections, truths)


def detect(model: torch.nn.Module, images: np.ndarray) -> list[Detections]:
    """uint8 pages ``[B, H, W]`` -> per page, the detections kept by the score threshold and class-wise NMS."""
    with torch.inference_mode():
        boxes, scores, classes = model(model.normalize(torch.tensor(images)))
    kept = []
    for page_boxes, page_scores, page_classes in zip(boxes, scores, classes, strict=True):
        confident = page_scores >= SCORE_THRESHOLD
        page_boxes, page_scores, page_classes = page_boxes[confident], page_scores[confident], page_classes[confident]
        keep = class_nms(page_boxes, page_scores, page_classes, NMS_IOU)
        kept.append((page_boxes[keep], page_scores[keep], page_classes[keep]))
    return kept


def class_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices kept by class-wise NMS, best score first: the object_detection task's own (torchvision's semantics),
    so the figure printed here is of the answers the archive gives."""
    return batched_nms(boxes, scores, classes, iou)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP: the area under the precision envelope (precision made non-increasing
    from the right), summed where recall changes."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[changes + 1] - recall[changes]) * precision[changes + 1]))


def mean_average_precision(detections: list[Detections], truths: list[tuple[torch.Tensor, torch.Tensor]],
                           classes: int = DIGITS, match_iou: float = MATCH_IOU) -> float:
    """VOC-style mAP: per class, detections of all pages ranked by score; one is a true positive when it
    overlaps a not-yet-matched true box of its class by at least ``match_iou``. Classes with no true box
    are left out of the mean."""
    aps = []
    for digit in range(classes):
        total = sum(int((labels == digit).sum()) for _, labels in truths)
        if total == 0:
            continue
        ranked = []   # (score, is true positive), each page matched greedily by score
        for (boxes, scores, found), (true_boxes, labels) in zip(detections, truths, strict=True):
            ranked += match(boxes[found == digit], scores[found == digit], true_boxes[labels == digit], match_iou)
        ranked.sort(key=lambda pair: -pair[0])
        hits = np.array([hit for _, hit in ranked], dtype=np.float64)
        true_positives = np.cumsum(hits)
        recall = true_positives / total
        precision = true_positives / np.arange(1, len(hits) + 1)
        aps.append(average_precision(recall, precision))
    return float(np.mean(aps))


def match(boxes: torch.Tensor, scores: torch.Tensor, true_boxes: torch.Tensor, match_iou: float) -> list[tuple[float, bool]]:
    """(score, true positive?) for one page's detections of one class, best score first claiming its best-overlapping
    true box; a box already claimed makes later detections false positives, as in VOC."""
    order = scores.argsort(descending=True, stable=True)
    overlaps = box_iou(boxes[order], true_boxes) if len(true_boxes) else torch.zeros(len(order), 0)
    claimed = torch.zeros(len(true_boxes), dtype=torch.bool)
    pairs = []
    for row, index in enumerate(order.tolist()):
        best = int(overlaps[row].argmax()) if overlaps.shape[1] else -1
        hit = best >= 0 and float(overlaps[row, best]) >= match_iou and not bool(claimed[best])
        if hit:
            claimed[best] = True
        pairs.append((float(scores[index]), hit))
    return pairs


if __name__ == "__main__":
    sys.exit(main())
