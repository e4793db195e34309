"""facenet-pytorch's own MTCNN on the photos of ``photos.py``: the answers the port must reproduce.

    .bench/faces-ref-venv/bin/python examples/faces/reference.py

Run ONLY in the reference venv (facenet-pytorch imports torchvision, which the project's venv must never
import); README.md says how to make it. Writes ``reference.json`` beside this file: per photo, the boxes
(x1, y1, x2, y2), probabilities and landmarks of ``MTCNN(keep_all=True, device='cpu').detect(photo,
landmarks=True)`` (largest face first, the package's order), with the versions and the command that made it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from facenet_pytorch import MTCNN

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import photos  # noqa: E402

REPO = HERE.parents[1]


def detections(detector: MTCNN, photo: Any) -> dict[str, list]:
    """One photo's faces as JSON lists; none found is empty lists (the package answers None)."""
    boxes, probs, points = detector.detect(photo, landmarks=True)
    if boxes is None:
        return {"boxes": [], "probs": [], "landmarks": []}
    return {"boxes": np.asarray(boxes, dtype=np.float64).tolist(),
            "probs": np.asarray(probs, dtype=np.float64).tolist(),
            "landmarks": np.asarray(points, dtype=np.float64).tolist()}


def command() -> str:
    """The command line that ran this, the interpreter relative to the repository when it lives inside."""
    executable = Path(sys.executable)
    if executable.is_relative_to(REPO):
        executable = executable.relative_to(REPO)
    script = os.path.relpath(Path(sys.argv[0]).resolve(), Path.cwd())
    return shlex.join([str(executable), script, *sys.argv[1:]])


def compact(text: str) -> str:
    """Indented JSON with each innermost list (a box, a landmark, the probabilities) on one line."""
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda match: "[" + re.sub(r"\s+", " ", match.group(1)) + "]", text)


def main() -> None:
    torch.set_num_threads(1)
    detector = MTCNN(keep_all=True, device="cpu")
    found = {name: detections(detector, photo) for name, photo in photos.photos().items()}
    result = {
        "command": command(),
        "detector": "facenet_pytorch.MTCNN(keep_all=True, device='cpu').detect(photo, landmarks=True)",
        "versions": {package: version(package) for package in ("torch", "torchvision", "facenet-pytorch",
                                                               "numpy", "pillow", "scikit-image")},
        "photos": found,
    }
    (HERE / "reference.json").write_text(compact(json.dumps(result, indent=1)) + "\n", encoding="utf-8")
    for name, faces in found.items():
        print(f"{name}: {len(faces['boxes'])} faces, probabilities {[round(p, 6) for p in faces['probs']]}")


if __name__ == "__main__":
    main()
