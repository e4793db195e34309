"""Model-only images/s of EfficientNet-Lite0 in each serving form, at one torch thread (no server, no
preprocessing): where the compiled format's speed comes from. Prints a table; takes a few minutes
(the AOTInductor compile is about a minute on 2 cores).

    python -m benchmarks.image_model [--threads 1] [--seconds 3] [--batches 1,8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.stock import eager_network
from markit.builder.convert import PROGRAM_FILES, compare_outputs, convert, load_program

__all__ = ["main"]


def _rate(model: Callable[[torch.Tensor], torch.Tensor], batch: int, seconds: float) -> float:
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        started, images = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            model(x)
            images += batch
    return images / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    torch.set_num_threads(args.threads)
    eager = eager_network()
    example = torch.randn(2, 3, 224, 224)
    forms: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float, float]] = {"eager": (eager, 0.0, 0.0)}
    with tempfile.TemporaryDirectory(prefix="bench-image-model-") as tmp:
        for fmt, name in PROGRAM_FILES.items():
            started = time.perf_counter()
            convert(eager, example, fmt, Path(tmp) / name, tolerance=1e-4)
            built = time.perf_counter() - started
            program = _load(fmt, Path(tmp) / name)
            forms[fmt] = (program, built, compare_outputs(eager, program, (torch.randn(3, 3, 224, 224),)))
        print(f"EfficientNet-Lite0, model only, {args.threads} torch thread(s), torch {torch.__version__}, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores")
        print(f"{'form':<12} {'build s':>8} " + " ".join(f"{'batch ' + str(b) + ' img/s':>14}" for b in batches)
              + f" {'max |diff| vs eager':>20}")
        for name, (model, built, diff) in forms.items():
            rates = " ".join(f"{_rate(model, b, args.seconds):>14.1f}" for b in batches)
            print(f"{name:<12} {built:>8.1f} {rates} {diff:>20.1e}")
    return 0


def _load(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    if fmt == "torchscript":  # frozen, as a tuned stock deployment would run it
        return torch.jit.freeze(torch.jit.load(str(path)).eval())
    return load_program(fmt, path)


if __name__ == "__main__":
    raise SystemExit(main())
