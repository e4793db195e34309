"""Where the ported MTCNN spends its time on each photo of ``photos.py``, per stage, in milliseconds:

    python examples/faces/timing.py [--nets eager|trace|compile] [--repeat 5] [--threads 1]

Stages: pyramid + PNet (resampling, the network, its windows), RNet (crops, network, regression), ONet (the
same, landmarks), NMS (all of it, taken out of the stages above), and the total of ``forward``. Each figure is
the median over ``--repeat`` runs after one warm-up run per photo (the first call at a new size is slower).
``--nets trace`` / ``compile`` swap the networks for ``torch.jit.trace`` / ``torch.compile`` versions (see
``swap_networks``) and first check the detections against those of the eager networks (torch.equal).
Needs ``weights.py``'s output (``--weights``, default ``build/``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import photos  # noqa: E402
from model import Mtcnn  # noqa: E402

STAGES = {"propose": "pyramid+PNet", "refine": "RNet", "output": "ONet", "suppress": "NMS", "suppress_min": "NMS"}


class Clock:
    """Exclusive times of nested calls: a call's time less the time of the timed calls inside it."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            self._inner.append(0.0)
            start = time.perf_counter()
            result = function(*args)
            spent = time.perf_counter() - start
            inner = self._inner.pop()
            self.totals[label] += spent - inner
            if self._inner:
                self._inner[-1] += spent
            return result
        return timed


def detector(weights: Path) -> Mtcnn:
    model = Mtcnn({"cascade": weights / "cascade.json"})
    model.load_state_dict(load_file(str(weights / "weights.safetensors")), strict=True)
    return model.eval()


def swap_networks(model: Mtcnn, how: str) -> None:
    """Replace the networks on this instance by traced versions (all three) or compiled ones (RNet and ONet,
    fullgraph: a graph break or a recompile beyond the limit raises; PNet stays eager, as its pyramid's sizes
    recompile it past the limit: ceil-mode pooling guards each size's parity)."""
    examples = {"pnet": torch.zeros(1, 3, 100, 120), "rnet": torch.zeros(2, 3, 24, 24), "onet": torch.zeros(2, 3, 48, 48)}
    for name, example in examples.items():
        net = getattr(model, name)
        if how == "trace":
            setattr(model, name, torch.jit.trace(net, example, check_trace=False))
        elif name != "pnet":
            setattr(model, name, torch.compile(net, fullgraph=True))


def difference(found: tuple[torch.Tensor, ...], eager: tuple[torch.Tensor, ...]) -> str:
    """'equal', or how far from the eager networks' detections."""
    if all(torch.equal(a, b) for a, b in zip(found, eager, strict=True)):
        return "equal"
    if any(a.shape != b.shape for a, b in zip(found, eager, strict=True)):
        return f"differ: {found[0].shape[1]} faces vs {eager[0].shape[1]}"
    return "max abs diff " + ", ".join(f"{label} {float((a.double() - b.double()).abs().max()):.2g}"
                                       for label, a, b in zip(("box", "score", "class", "landmark"), found, eager, strict=True))


def time_photo(model: Mtcnn, image: torch.Tensor, repeat: int) -> dict[str, float]:
    """Median ms per stage and in total over ``repeat`` runs of ``model(image)``."""
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat):
        clock = Clock()
        for method, label in STAGES.items():
            setattr(model, method, clock.wrap(label, getattr(type(model), method).__get__(model)))
        start = time.perf_counter()
        model(image)
        runs["total"].append(time.perf_counter() - start)
        for label, seconds in clock.totals.items():
            runs[label].append(seconds)
    for method in STAGES:
        delattr(model, method)
    return {label: 1000 * statistics.median(values) for label, values in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=HERE / "build")
    parser.add_argument("--nets", choices=("eager", "trace", "compile"), default="eager")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = detector(args.weights)
    images = {name: torch.from_numpy(photos.normalized(photo))[None] for name, photo in photos.photos().items()}
    with torch.inference_mode():
        start = time.perf_counter()
        eager = {name: model(image) for name, image in images.items()}
        print(f"first run of each photo (eager): {1000 * (time.perf_counter() - start):.0f} ms in all")
        if args.nets != "eager":
            start = time.perf_counter()
            swap_networks(model, args.nets)
            same = {name: difference(model(image), eager[name]) for name, image in images.items()}
            print(f"{args.nets}: ready in {time.perf_counter() - start:.1f} s (incl. one run per photo); "
                  f"detections vs eager: {same}")
        labels = ("pyramid+PNet", "RNet", "ONet", "NMS", "total")
        print(f"{'ms (median of ' + str(args.repeat) + ')':<20}" + "".join(f"{label:>14}" for label in labels))
        for name, image in images.items():
            figures = time_photo(model, image, args.repeat)
            size = "x".join(str(side) for side in image.shape[:1:-1])
            print(f"{name + ' ' + size:<20}" + "".join(f"{figures.get(label, 0.0):>14.1f}" for label in labels))


if __name__ == "__main__":
    main()
