"""Exact-number accuracy of the read_number pipeline on held-out pages, beside the detector read alone.

    python examples/read_number/evaluate.py --store DIR [--pages 500]

DIR holds read_number.mar (examples/read_number/build.py --store DIR) and the digit_boxes.mar it was built from.
Each page is drawn from the held-out digit samples (examples/digit_boxes/canvases.py, seed HELD_OUT_SEED, which
neither training nor the golden pages use); its true number is its digits ordered by their boxes' centres. The
pipeline runs in process (markit.offline), batches of 8 pages as a worker would get them. The baseline reads the
detector's own labels in the same order, after the same removal of overlapping boxes (IoU above 0.5).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from markit.offline import LocalArchive, LocalRequest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import HELD_OUT_SEED, held_out_pages, png, true_number

BATCH = 8
OVERLAP = 0.5  # as the pipeline's filter node (max_iou)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="holds read_number.mar and digit_boxes.mar")
    parser.add_argument("--pages", type=int, default=500, help="held-out pages to read (default 500)")
    args = parser.parse_args(argv)
    pages = held_out_pages(args.pages, HELD_OUT_SEED)
    truths = [true_number(page) for page in pages]
    read = answers(args.store / "read_number.mar", pages)
    alone = [detector_number(answer) for answer in answers(args.store / "digit_boxes.mar", pages)]
    numbers = [answer["number"] if answer is not None else None for answer in read]
    print(f"held-out pages: {len(pages)} ({sum(len(t) for t in truths)} digits, 1-5 per page), seed {HELD_OUT_SEED}")
    print(f"read_number (detector -> crop -> classifier): exact number {accuracy(numbers, truths):.4f}")
    print(f"the detector's own labels alone:              exact number {accuracy(alone, truths):.4f}")
    return 0


def answers(mar: Path, pages: list) -> list:
    """Each page's answer (None for a refusal), pages sent in batches of BATCH."""
    if not mar.is_file():
        raise SystemExit(f"{mar} does not exist: build it first (see this file's docstring)")
    out = []
    with LocalArchive(mar, batch_size=BATCH) as archive:
        for start in range(0, len(pages), BATCH):
            batch = [LocalRequest.raw(png(page), "image/png") for page in pages[start:start + BATCH]]
            out += [answer.body if answer.status == 200 else None for answer in archive.predict(batch)]
    return out


def detector_number(answer: dict | None) -> str | None:
    if answer is None:
        return None
    kept: list[dict] = []
    for detection in answer["detections"]:  # best first
        if all(iou(detection["box"], other["box"]) <= OVERLAP for other in kept):
            kept.append(detection)
    kept.sort(key=lambda detection: detection["box"]["x1"] + detection["box"]["x2"])
    return "".join(detection["label"] for detection in kept)


def iou(a: dict, b: dict) -> float:
    width = min(a["x2"], b["x2"]) - max(a["x1"], b["x1"])
    height = min(a["y2"], b["y2"]) - max(a["y1"], b["y1"])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a["x2"] - a["x1"]) * (a["y2"] - a["y1"]) + (b["x2"] - b["x1"]) * (b["y2"] - b["y1"]) - inter
    return inter / union if union > 0 else 0.0


def accuracy(numbers: list, truths: list[str]) -> float:
    return sum(number == truth for number, truth in zip(numbers, truths, strict=True)) / len(truths)


if __name__ == "__main__":
    sys.exit(main())
