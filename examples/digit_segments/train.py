"""Train the digit segmenter on canvases of scikit-learn's handwritten digits, on the spot, in about a minute.

    python examples/digit_segments/train.py [--output DIR]

writes DIR/build/ (default: this folder's build/):
    weights.safetensors   the DigitSegments state dict (model.py), for the builder's load_state_dict
    normalization.json    mean and std of training pages' pixel / 255: forward's input is (pixel / 255 - mean) / std
    classes.json          the name of each logit channel: background, then the digits 0-9
    golden/               three held-out canvases as PNG, with canvas_N_truth.png and canvas_N_expected.png
                          (class per pixel as a gray level 0..10: the drawn ink, and the model's answer) and
                          expected.json (the digits drawn and the model's pixel accuracy on each)
    metrics.json          the measured mIoU, training seconds and settings
and prints mIoU on 300 held-out canvases (evaluate.py recomputes it from the written files).

The canvases come from examples/digit_boxes/canvases.py (imported by path, not copied); training pages
are drawn fresh every step from the training digit samples; one thread and fixed seeds make two runs
write the same weights.
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
TRAIN_SEED = 11         # training canvases
NORMALIZATION_SEED = 3  # the pages whose pixels give mean and std
GOLDEN_SEED = 7
CLASSES = 11
DIGIT_WEIGHT = 5.0      # a digit's pixel counts this many background pixels: ink is ~10 % of a page
REQUIRED_MIOU = 0.6     # below this the run writes no weights


def load_path(path: Path, name: str) -> ModuleType:
    """A module imported by path: the scripts run from anywhere and change no sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=HERE, help="where build/ goes")
    parser.add_argument("--steps", type=int, default=650)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heldout", type=int, default=300, help="held-out canvases the printed mIoU is measured on")
    parser.add_argument("--store", type=Path, help="then build digit_segments.mar from spec.yaml into this model store")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    evaluate = load_path(HERE / "evaluate.py", "digit_segments_evaluate")
    canvases = evaluate.canvases()
    build = args.output / "build"
    (build / "golden").mkdir(parents=True, exist_ok=True)

    started = time.process_time()
    write_artifacts(build, canvases)
    torch.manual_seed(SEED)
    model = load_path(HERE / "model.py", "digit_segments_model").DigitSegments(
        artifacts={name: str(build / f"{name}.json") for name in ("normalization", "classes")})
    train(model, canvases, args.steps, args.batch)
    seconds = time.process_time() - started
    model.eval()
    ious = evaluate.held_out_ious(model, args.heldout)
    print(f"trained in {seconds:.1f} s of CPU ({args.steps} steps of {args.batch} canvases)")
    print(f"mIoU: {ious.mean():.4f} on {args.heldout} held-out canvases (background {ious[0]:.4f}, "
          f"digits {ious[1:].min():.4f}..{ious[1:].max():.4f})")
    if ious.mean() < REQUIRED_MIOU:
        print(f"mIoU {ious.mean():.4f} is below the required {REQUIRED_MIOU}; not writing weights", file=sys.stderr)
        return 1
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(build / "weights.safetensors"))
    write_golden(build / "golden", model, canvases, evaluate)
    metrics = {"miou": round(float(ious.mean()), 4), "class_iou": [round(float(v), 4) for v in ious],
               "heldout_canvases": args.heldout, "train_cpu_seconds": round(seconds, 1), "steps": args.steps,
               "batch": args.batch, "seed": SEED}
    (build / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    if args.store is not None:
        archive = load_path(HERE.parent / "digit_boxes" / "archive.py", "digit_boxes_archive")
        archive.build_into(HERE / "spec.yaml", args.store, build, golden_answers(build / "golden"),
                           {"miou": metrics["miou"], "heldout_canvases": args.heldout})
    return 0


def golden_answers(directory: Path) -> list[dict]:
    """The golden pages with the classes the model finds on them and each one's share of the page, as the
    semantic_segmentation task answers them (largest first), from the predicted class maps write_golden saved."""
    labels = ["background", *(str(digit) for digit in range(10))]
    golden = []
    for item in json.loads((directory / "expected.json").read_text(encoding="utf-8")):
        predicted = np.asarray(Image.open(directory / item["expected"]))
        counts = np.bincount(predicted.reshape(-1), minlength=len(labels))
        classes = [{"label": labels[index], "index": int(index), "fraction": round(float(counts[index]) / predicted.size, 6)}
                   for index in np.argsort(-counts, kind="stable") if counts[index]]
        golden.append({"input": item["input"], "expected": {"classes": classes}, "tolerance": 0.001})
    return golden


def write_artifacts(build: Path, canvases: ModuleType) -> None:
    """normalization.json from training pages' pixels; classes.json naming the logit channels."""
    pixels = np.stack([page.image for page in canvases.make_canvases("train", 200, NORMALIZATION_SEED)]) / 255.0
    normalization = {"mean": round(float(pixels.mean()), 6), "std": round(float(pixels.std()), 6), "scale": "pixel / 255"}
    classes = ["background", *(str(digit) for digit in range(10))]
    for name, value in (("normalization", normalization), ("classes", classes)):
        (build / f"{name}.json").write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")


def train(model: torch.nn.Module, canvases: ModuleType, steps: int, batch: int) -> None:
    """Adam with a one-cycle schedule and cross-entropy weighted towards ink (unweighted, the background swamps
    the digits and they are barely learned in this budget); every step a fresh batch of training canvases."""
    digits = canvases.digit_split("train")
    rng = np.random.default_rng(TRAIN_SEED)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    weight = torch.tensor([1.0] + [DIGIT_WEIGHT] * (CLASSES - 1))
    model.train()
    for _ in range(steps):
        pages = [canvases.make_canvas(digits, rng) for _ in range(batch)]
        images = model.normalize(torch.from_numpy(np.stack([page.image for page in pages])))
        masks = torch.from_numpy(np.stack([page.mask for page in pages])).long()
        loss = torch.nn.functional.cross_entropy(model.half_logits(images), block_proportions(masks), weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def block_proportions(masks: torch.Tensor) -> torch.Tensor:
    """Class per pixel ``[B, H, W]`` -> each class's share of every 2x2 block ``[B, 11, H/2, W/2]``: the soft target
    of the half-resolution logits, so that bilinear upsampling of them lands the boundaries between pixels."""
    one_hot = torch.nn.functional.one_hot(masks, CLASSES).permute(0, 3, 1, 2).float()
    return torch.nn.functional.avg_pool2d(one_hot, 2)


def write_golden(directory: Path, model: torch.nn.Module, canvases: ModuleType, evaluate: ModuleType) -> None:
    """Three held-out canvases as PNG, their true and predicted class maps as PNG, and expected.json."""
    pages = canvases.make_canvases("heldout", 3, GOLDEN_SEED)
    predicted = evaluate.segment(model, np.stack([page.image for page in pages]))
    expected = []
    for index, (page, answer) in enumerate(zip(pages, predicted, strict=True)):
        Image.fromarray(page.image).save(directory / f"canvas_{index}.png")
        Image.fromarray(page.mask).save(directory / f"canvas_{index}_truth.png")
        Image.fromarray(answer.astype(np.uint8)).save(directory / f"canvas_{index}_expected.png")
        expected.append({"input": f"canvas_{index}.png", "digits": sorted(int(d) for d in page.labels),
                         "truth": f"canvas_{index}_truth.png", "expected": f"canvas_{index}_expected.png",
                         "pixel_accuracy": round(float((answer == page.mask).mean()), 4)})
    (directory / "expected.json").write_text("[\n" + ",\n".join(json.dumps(item) for item in expected) + "\n]\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
