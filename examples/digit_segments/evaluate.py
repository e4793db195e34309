"""Measure the trained digit segmenter: mIoU on held-out canvases.

    python examples/digit_segments/evaluate.py [--output DIR] [--canvases 300]

reads DIR/build (written by train.py --output DIR), draws held-out canvases (digit samples never used in
training; examples/digit_boxes/canvases.py), predicts each pixel's class (argmax of the logits) and prints
mIoU: per class, intersection over union of predicted and true pixels summed over all pages, averaged over
the 11 classes (background and the ten digits).
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

HERE = Path(__file__).resolve().parent
CANVASES = HERE.parent / "digit_boxes" / "canvases.py"
HELD_OUT_SEED = 2025    # held-out canvases: the train.py printout and this script draw the same pages
CLASSES = 11


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=HERE, help="the directory train.py wrote build/ into")
    parser.add_argument("--canvases", type=int, default=300, help="how many held-out canvases to measure on")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.output / "build")
    ious = held_out_ious(model, args.canvases)
    print(f"mIoU: {ious.mean():.4f} on {args.canvases} held-out canvases (background {ious[0]:.4f}, "
          f"digits {ious[1:].min():.4f}..{ious[1:].max():.4f})")
    return 0


def load_path(path: Path, name: str) -> ModuleType:
    """A module imported by path: the scripts run from anywhere and change no sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def canvases() -> ModuleType:
    """The canvas generator the detector example owns, shared rather than copied."""
    return load_path(CANVASES, "digit_boxes_canvases")


def load_model(build: Path) -> torch.nn.Module:
    """The segmenter as the builder would load it: the class from model.py, the artifacts, the safetensors weights."""
    model = load_path(HERE / "model.py", "digit_segments_model").DigitSegments(
        artifacts={name: str(build / f"{name}.json") for name in ("normalization", "classes")})
    model.load_state_dict(load_file(str(build / "weights.safetensors")))
    return model.eval()


def segment(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """uint8 pages ``[B, H, W]`` -> predicted classes ``[B, H, W]`` (0 background, d + 1 digit d)."""
    with torch.inference_mode():
        return model(model.normalize(torch.tensor(images))).argmax(dim=1).numpy()


def held_out_ious(model: torch.nn.Module, count: int, batch: int = 50) -> np.ndarray:
    """Per-class IoU ``[11]`` of ``model`` on the first ``count`` held-out canvases of HELD_OUT_SEED."""
    pages = canvases().make_canvases("heldout", count, HELD_OUT_SEED)
    confusion = np.zeros((CLASSES, CLASSES), np.int64)
    for start in range(0, count, batch):
        chunk = pages[start:start + batch]
        predicted = segment(model, np.stack([page.image for page in chunk]))
        confusion += confusion_matrix(np.stack([page.mask for page in chunk]), predicted)
    return class_ious(confusion)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    """``[classes, classes]`` pixel counts: row = true class, column = predicted class."""
    pairs = truth.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def class_ious(confusion: np.ndarray) -> np.ndarray:
    """IoU per class from a confusion matrix: true positives / (true + predicted - true positives).
    A class absent from both truth and prediction counts as 1 (nothing to get wrong)."""
    hits = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - hits
    return np.where(union > 0, hits / np.maximum(union, 1), 1.0)


if __name__ == "__main__":
    sys.exit(main())
