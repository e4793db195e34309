"""Train the digit detector on canvases of scikit-learn's handwritten digits, on the spot, in about a minute.

    python examples/digit_boxes/train.py [--output DIR]

writes DIR/build/ (default: this folder's build/):
    weights.safetensors   the DigitBoxes state dict (model.py), for the builder's load_state_dict
    normalization.json    mean and std of training pages' pixel / 255: forward's input is (pixel / 255 - mean) / std
    decoding.json         the grid stride, how many candidates (top_k) the forward returns, the class labels
    golden/               three held-out canvases as PNG and expected.json: their true digits and boxes, and
                          the model's answer after a 0.3 score threshold and class-wise NMS
    metrics.json          the measured mAP@0.5, training seconds and settings
and prints mAP@0.5 on 500 held-out canvases (evaluate.py recomputes it from the written files).

Training pages are drawn fresh every step from the training digit samples (canvases.py), so the model
never sees the same page twice; it runs on one thread with fixed seeds, so two runs write the same weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
SEED = 0                # model initialization
TRAIN_SEED = 1          # training canvases
NORMALIZATION_SEED = 3  # the pages whose pixels give mean and std
GOLDEN_SEED = 7
TOP_K = 100
REQUIRED_MAP = 0.8      # below this the run writes no weights
HEATMAP_SIGMA = 0.15    # Gaussian spread of a centre, as a fraction of the box's side
REGRESSION_FLOOR = 0.3  # cells whose centre heat is at least this learn the box's edges
GOLDEN_SCORE = 0.3


def sibling(name: str) -> ModuleType:
    """A module of this folder, imported by path: the scripts run from anywhere and change no sys.path."""
    spec = importlib.util.spec_from_file_location(f"digit_boxes_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=HERE, help="where build/ goes")
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heldout", type=int, default=500, help="held-out canvases the printed mAP is measured on")
    parser.add_argument("--store", type=Path, help="then build digit_boxes.mar from spec.yaml into this model store")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    canvases, evaluate = sibling("canvases"), sibling("evaluate")
    build = args.output / "build"
    (build / "golden").mkdir(parents=True, exist_ok=True)

    started = time.process_time()
    write_artifacts(build, canvases)
    torch.manual_seed(SEED)
    model = sibling("model").DigitBoxes(artifacts={name: str(build / f"{name}.json") for name in ("decoding", "normalization")})
    train(model, canvases, args.steps, args.batch)
    seconds = time.process_time() - started
    model.eval()
    score = evaluate.held_out_map(model, args.heldout)
    print(f"trained in {seconds:.1f} s of CPU ({args.steps} steps of {args.batch} canvases)")
    print(f"mAP@0.5: {score:.4f} on {args.heldout} held-out canvases")
    if score < REQUIRED_MAP:
        print(f"mAP@0.5 {score:.4f} is below the required {REQUIRED_MAP}; not writing weights", file=sys.stderr)
        return 1
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(build / "weights.safetensors"))
    write_golden(build / "golden", model, canvases, evaluate)
    metrics = {"map50": round(score, 4), "heldout_canvases": args.heldout, "train_cpu_seconds": round(seconds, 1),
               "steps": args.steps, "batch": args.batch, "seed": SEED}
    (build / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    if args.store is not None:
        answers = json.loads((build / "golden" / "expected.json").read_text(encoding="utf-8"))
        golden = [{"input": item["input"], "expected": {"detections": [_answered(d) for d in item["detections"]]}, "tolerance": 0.01}
                  for item in answers]
        sibling("archive").build_into(HERE / "spec.yaml", args.store, build, golden,
                                      {"map50": metrics["map50"], "heldout_canvases": args.heldout})
    return 0


def _answered(detection: dict) -> dict:
    """A detection of expected.json as the object_detection task answers it."""
    return {"label": str(detection["digit"]), "score": detection["score"],
            "box": dict(zip(("x1", "y1", "x2", "y2"), detection["box"], strict=True))}


def write_artifacts(build: Path, canvases: ModuleType) -> None:
    """normalization.json from training pages' pixels; decoding.json with the forward's constants."""
    pixels = np.stack([page.image for page in canvases.make_canvases("train", 200, NORMALIZATION_SEED)]) / 255.0
    normalization = {"mean": round(float(pixels.mean()), 6), "std": round(float(pixels.std()), 6), "scale": "pixel / 255"}
    decoding = {"stride": 4, "top_k": TOP_K, "labels": [str(digit) for digit in range(10)],
                "boxes": "x1, y1, x2, y2 in input pixels", "nms": "none in the model: apply class-wise NMS"}
    for name, value in (("normalization", normalization), ("decoding", decoding)):
        (build / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")


def train(model: torch.nn.Module, canvases: ModuleType, steps: int, batch: int) -> None:
    """Adam with a one-cycle schedule; every step a fresh batch of training canvases."""
    digits = canvases.digit_split("train")
    rng = np.random.default_rng(TRAIN_SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    model.train()
    for _ in range(steps):
        pages = [canvases.make_canvas(digits, rng) for _ in range(batch)]
        heat_target, edge_target, edge_weight = targets(pages)
        heat, edges = model.heads(model.normalize(torch.from_numpy(np.stack([page.image for page in pages]))))
        loss = focal_loss(heat, heat_target) + edge_loss(edges, edge_target, edge_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def targets(pages: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per page: a Gaussian of heat around each digit's centre in its class's channel (exactly 1 at the centre's
    cell), and, on cells near a centre, log(distance to each edge / stride) weighted by that heat."""
    stride = 4
    rows, cols = pages[0].image.shape[0] // stride, pages[0].image.shape[1] // stride
    ys, xs = (np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride
    heat = np.zeros((len(pages), 10, rows, cols), np.float32)
    edges = np.zeros((len(pages), 4, rows, cols), np.float32)
    weight = np.zeros((len(pages), rows, cols), np.float32)
    for page_index, page in enumerate(pages):
        for (x1, y1, x2, y2), digit in zip(page.boxes, page.labels, strict=True):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            gauss = (np.exp(-((ys[:, None] - cy) ** 2) / (2 * (HEATMAP_SIGMA * (y2 - y1) + 1) ** 2))
                     * np.exp(-((xs[None, :] - cx) ** 2) / (2 * (HEATMAP_SIGMA * (x2 - x1) + 1) ** 2)))
            gauss[min(int(cy // stride), rows - 1), min(int(cx // stride), cols - 1)] = 1.0
            heat[page_index, digit] = np.maximum(heat[page_index, digit], gauss)
            distances = np.stack(np.broadcast_arrays(xs[None, :] - x1, ys[:, None] - y1, x2 - xs[None, :], y2 - ys[:, None]))
            near = (gauss >= REGRESSION_FLOOR) & (gauss > weight[page_index])
            edges[page_index][:, near] = np.log(np.maximum(distances[:, near], 0.5) / stride)
            weight[page_index][near] = gauss[near]
    return torch.from_numpy(heat), torch.from_numpy(edges), torch.from_numpy(weight)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per centre: cells next to a centre are punished less for heat."""
    log_p, log_not_p = torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
    p = log_p.exp()
    centres = target.eq(1).float()
    positive = -((1 - p) ** 2) * log_p * centres
    negative = -((1 - target) ** 4) * p ** 2 * log_not_p * (1 - centres)
    return (positive.sum() + negative.sum()) / centres.sum().clamp(min=1)


def edge_loss(predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 on log edge distances, weighted by closeness to the centre."""
    per_cell = (predicted - target).abs().sum(dim=1)
    return (per_cell * weight).sum() / weight.sum().clamp(min=1)


def write_golden(directory: Path, model: torch.nn.Module, canvases: ModuleType, evaluate: ModuleType) -> None:
    """Three held-out canvases as PNG, and expected.json: what is drawn on each and what the model answers."""
    pages = canvases.make_canvases("heldout", 3, GOLDEN_SEED)
    answers = evaluate.detect(model, np.stack([page.image for page in pages]))
    expected = []
    for index, (page, (boxes, scores, classes)) in enumerate(zip(pages, answers, strict=True)):
        name = f"canvas_{index}.png"
        Image.fromarray(page.image).save(directory / name)
        confident = scores >= GOLDEN_SCORE
        expected.append({
            "input": name,
            "truth": [{"digit": int(d), "box": [int(v) for v in box]} for box, d in zip(page.boxes, page.labels, strict=True)],
            "detections": [{"digit": int(d), "score": round(float(s), 4), "box": [round(float(v), 2) for v in box]}
                           for box, s, d in zip(boxes[confident], scores[confident], classes[confident], strict=True)],
        })
    (directory / "expected.json").write_text("[\n" + ",\n".join(json.dumps(item) for item in expected) + "\n]\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
