"""Train the digits CNN on scikit-learn's bundled 8x8 handwritten digits, then build its archives.

Training and packaging are one path (seed 003: train every model as if it goes to production):
    python examples/digits/train.py [--output model_store]
writes build/ (weights, the normalization artifact, golden inputs, metrics, and samples/: held-out
digits drawn as PNGs for the demo and predict.sh) and builds
    digits.mar        the forward converted to torch.export (.pt2), as the spec says
    digits_eager.mar  the same model shipped eager, to show both formats answer alike
Held-out accuracy is measured on a stratified 25 % split and recorded in the manifests' metadata.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from markit.builder import BuildError, build_archive  # noqa: E402

REQUIRED_ACCURACY = 0.95
SEED = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "model_store")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    build = HERE / "build"
    (build / "golden").mkdir(parents=True, exist_ok=True)

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=SEED)
    normalization = {"mean": round(float(x_train.mean()), 6), "std": round(float(x_train.std()), 6), "scale": "ink 0..16"}
    (build / "normalization.json").write_text(json.dumps(normalization, indent=1) + "\n", encoding="utf-8")

    model = make_model(build / "normalization.json")
    train(model, x_train, y_train, args.epochs)
    model.eval()
    accuracy = evaluate(model, [model.normalize(x) for x in x_test], y_test)
    image_accuracy = evaluate(model, [model.preprocess(render(x)) for x in x_test], y_test)
    print(f"held-out accuracy: {accuracy:.4f} on {len(y_test)} digits (8x8 arrays); "
          f"{image_accuracy:.4f} when the same digits are sent as PNG images")
    if accuracy < REQUIRED_ACCURACY:
        print(f"accuracy {accuracy:.4f} is below the required {REQUIRED_ACCURACY}; not packaging", file=sys.stderr)
        return 1
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(build / "weights.safetensors"))
    write_golden(build / "golden", x_test, y_test)
    write_samples(build / "samples", x_test, y_test)
    metrics = {"test_accuracy": round(accuracy, 4), "test_accuracy_png": round(image_accuracy, 4),
               "train_size": len(y_train), "test_size": len(y_test), "epochs": args.epochs, "seed": SEED}
    (build / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")

    overrides = [f"metadata.{key}={value}" for key, value in metrics.items()]
    try:
        for extra in ([], ["name=digits_eager", "model.format=eager"]):
            result = build_archive(HERE / "spec.yaml", args.output, progress=lambda _: None, overrides=overrides + extra)
            model_section = result.manifest["spec"]["model"]
            print(f"built {result.path} ({model_section['format']}) identity {result.manifest['identity'][:19]}…")
    except BuildError as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    return 0


def make_model(normalization: Path) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.spec_from_file_location("digits_model", HERE / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(SEED)
    return module.DigitNet(artifacts={"normalization": normalization})


def train(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, epochs: int) -> None:
    generator = torch.Generator().manual_seed(SEED)
    inputs = torch.stack([model.normalize(x) for x in images])
    targets = torch.as_tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(targets), generator=generator).split(64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(shift(inputs[batch], generator)), targets[batch])
            loss.backward()
            optimizer.step()


def shift(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to one cell, so the model tolerates off-centre drawings."""
    dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=generator))
    background = batch.amin()
    padded = torch.nn.functional.pad(batch, (1, 1, 1, 1), value=float(background))
    return padded[:, :, 1 + dy:9 + dy, 1 + dx:9 + dx]


def evaluate(model: torch.nn.Module, tensors: list[torch.Tensor], labels: np.ndarray) -> float:
    with torch.inference_mode():
        predicted = model(torch.stack(tensors)).argmax(dim=1).numpy()
    return float((predicted == labels).mean())


def render(cells: np.ndarray, scale: int = 12) -> bytes:
    """An 8x8 digit as a person would send it: dark ink on white, enlarged, as PNG bytes."""
    gray = (255 * (1 - cells / 16)).astype(np.uint8)
    image = Image.fromarray(gray).resize((8 * scale, 8 * scale), Image.Resampling.NEAREST)
    padded = Image.new("L", (image.width + 4 * scale, image.height + 4 * scale), 255)
    padded.paste(image, (2 * scale, 2 * scale))
    buffer = io.BytesIO()
    padded.save(buffer, format="PNG")
    return buffer.getvalue()


def write_golden(directory: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The first held-out 3 and 7 as PNG drawings, and the first held-out 0 as an 8x8 JSON array."""
    first = {digit: int(np.flatnonzero(labels == digit)[0]) for digit in (0, 3, 7)}
    (directory / "three.png").write_bytes(render(images[first[3]]))
    (directory / "seven.png").write_bytes(render(images[first[7]]))
    (directory / "zero.json").write_text(json.dumps(images[first[0]].astype(int).tolist()) + "\n", encoding="utf-8")


def write_samples(directory: Path, images: np.ndarray, labels: np.ndarray, count: int = 16) -> None:
    """The last held-out digits as PNG drawings named after their true label, and two as 8x8 JSON arrays:
    inputs for the demo and for ./scripts/predict.sh."""
    directory.mkdir(exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for index in range(len(labels) - count, len(labels)):
        (directory / f"heldout_{index:03d}_is_{labels[index]}.png").write_bytes(render(images[index]))
    for index in range(len(labels) - count - 2, len(labels) - count):
        (directory / f"heldout_{index:03d}_is_{labels[index]}.json").write_text(json.dumps(images[index].astype(int).tolist()))


if __name__ == "__main__":
    sys.exit(main())
