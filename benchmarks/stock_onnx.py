"""TorchServe's stock ``image_classifier`` subclassed only to run our archive's ONNX graph, for comparison.

The peer a user gets who keeps the stock handler and swaps TorchScript for the ``model/model.onnx`` our
archive runs: ``benchmarks/stock_handlers/onnx_image_classifier.py`` loads it in ONNX Runtime (1 intra-op
thread unless ``OMP_NUM_THREADS`` says otherwise, as the TorchScript peer's torch), everything else is the
stock handler's. Like the TorchScript peer it runs from the stock venv (``benchmarks/stock.py``), and before
anything is measured the graph, run there through the handler's own session and ``inference``, must give
eager's logits on the photo ``trace_network`` saved (batch 1 and 2): loaded by the handler's own ``initialize``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.stock import TOLERANCE, StockError, archive_for_stock, checked_in_stock

__all__ = ["HANDLER", "ONNX_ENTRY", "build_stock_onnx_archive", "extract_onnx", "verify_onnx_in_stock"]

HANDLER = Path(__file__).resolve().parent / "stock_handlers" / "onnx_image_classifier.py"
ONNX_ENTRY = "model/model.onnx"  # where a format: onnx archive keeps its graph

CHECK_SCRIPT = """
import importlib.util, json, pathlib, sys, types
import onnxruntime, torch
spec = importlib.util.spec_from_file_location("onnx_image_classifier", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handler = module.OnnxImageClassifier()
model = pathlib.Path(sys.argv[2])
handler.initialize(types.SimpleNamespace(system_properties={"model_dir": str(model.parent)},
                                         manifest={"model": {"serializedFile": model.name}}))
data = torch.load(sys.argv[3], weights_only=True)
one = handler.inference(data["input"])
two = handler.inference(torch.cat([data["input"], data["input"]]))
diff = max((one - data["logits"]).abs().max().item(), (two - data["logits"]).abs().max().item())
print(json.dumps({"onnxruntime": onnxruntime.__version__, "threads": handler.model.get_session_options().intra_op_num_threads,
                  "max_abs_diff": diff, "top1": int(one.argmax()), "eager_top1": int(data["logits"].argmax())}))
"""


def extract_onnx(archive: Path, out_dir: Path) -> Path:
    """``model.onnx`` in ``out_dir``: the graph ``archive`` runs (its ``model/model.onnx``)."""
    with zipfile.ZipFile(archive) as mar:
        if ONNX_ENTRY not in mar.namelist():
            spec = json.loads(mar.read("manifest.json")).get("spec", {}) if "manifest.json" in mar.namelist() else {}
            found = spec.get("model", {}).get("format", "unknown")
            raise StockError(f"{archive.name} holds no {ONNX_ENTRY} (model format {found}): the stock ONNX peer needs an "
                             "archive built with model.format: onnx")
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "model.onnx"
        target.write_bytes(mar.read(ONNX_ENTRY))
    return target


def verify_onnx_in_stock(venv: Path, onnx: Path, check: Path, tolerance: float = TOLERANCE) -> dict[str, object]:
    """Run ``onnx`` through the handler in the stock venv on ``check`` (``trace_network``'s check.pt): its logits at
    batch 1 and 2 must match eager's within ``tolerance``, with the same top-1."""
    return checked_in_stock(venv, [CHECK_SCRIPT, str(HANDLER), str(onnx), str(check)], "the ONNX graph run by the stock handler",
                            tolerance)


def build_stock_onnx_archive(venv: Path, onnx: Path, labels: Path, out_dir: Path, name: str,
                             serving: Mapping[str, int] | None = None) -> Path:
    """``NAME.mar`` of ``onnx`` for the handler file :data:`HANDLER` (see :func:`benchmarks.stock.archive_for_stock`)."""
    return archive_for_stock(venv, onnx, str(HANDLER), labels, out_dir, name, serving)
