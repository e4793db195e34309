"""The port's NMS against the code it replaces, on random boxes: ``model.nms`` against torchvision's ``nms`` and
``batched_nms`` (one image), ``model.nms_min`` against the package's own numpy ``batched_nms_numpy(..., 'Min')``:

    .bench/faces-ref-venv/bin/python examples/faces/check_nms.py

Run ONLY in the reference venv (README.md): it imports torchvision and facenet_pytorch. Boxes have float or
integer corners (integer ones make IoUs like 0.3 exactly, where comparing in float32 or float64 decides);
scores are distinct or tied. Tied scores in the 'Min' NMS are counted apart: numpy's quicksort orders ties
its own way (SIMD on some CPUs), which the port does not imitate. Exits 1 on any other difference.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import torch
from facenet_pytorch.models.utils.detect_face import batched_nms_numpy
from torchvision.ops import batched_nms
from torchvision.ops import nms as torchvision_nms

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import nms, nms_min

TRIALS = 600
THRESHOLDS = (0.3, 0.5, 0.7)


def random_case(trial: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, bool]:
    count = int(torch.randint(1, 16 if trial % 4 == 3 else 400, (1,), generator=generator))
    corner = torch.rand(count, 2, generator=generator) * 100
    boxes = torch.cat([corner, corner + torch.rand(count, 2, generator=generator) * 40 + 1], dim=1)
    if trial % 2:
        boxes = boxes.floor()
    tied = trial % 3 == 0
    scores = ((torch.rand(count, generator=generator) * 5).floor() / 5 if tied
              else torch.randperm(count, generator=generator).float() / count)
    return boxes, scores, tied


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    differ: Counter[str] = Counter()
    for trial in range(TRIALS):
        boxes, scores, tied = random_case(trial, generator)
        one_image = torch.zeros(len(boxes), dtype=torch.long)
        for threshold in THRESHOLDS:
            ours = nms(boxes, scores, threshold)
            if not (torch.equal(ours, torchvision_nms(boxes, scores, threshold))
                    and torch.equal(ours, batched_nms(boxes, scores, one_image, threshold))):
                differ["nms"] += 1
            if not torch.equal(nms_min(boxes, scores, threshold), batched_nms_numpy(boxes, scores, one_image, threshold, "Min")):
                differ["nms_min, tied scores" if tied else "nms_min"] += 1
    cases = TRIALS * len(THRESHOLDS)
    print(f"{cases} cases; differences: nms {differ['nms']}, nms_min {differ['nms_min']} "
          f"(and {differ['nms_min, tied scores']} of {cases // 3} with tied scores, numpy's tie order)")
    sys.exit(1 if differ["nms"] or differ["nms_min"] else 0)


if __name__ == "__main__":
    main()
