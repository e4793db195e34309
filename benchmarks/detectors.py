"""Ours against TorchServe's stock ``object_detector`` on the same detector graph, side by side in one run.

The stock handler takes a torchvision-style detector: its forward gets the batch of photos as ``ToTensor``
makes them (0..1, no resizing) and returns one ``{"boxes", "scores", "labels"}`` per photo, NMS done. So the
digit detector (``examples/digit_boxes``, the weights of the archive measured) is wrapped in the stock venv:
its normalization, the same network, torchvision's ``batched_nms`` at the archive's IoU threshold; scripted to
TorchScript there and archived with ``--handler object_detector`` and the archive's serving settings. Before
anything is timed, both servers answer the same page and must find the same digits (the stock handler's fixed
threshold 0.5, ours asked for 0.5) with boxes within 0.1 px.

Then, in rounds on fresh servers, each gets a closed loop of wrk (8 connections) and sequential requests for
the unloaded p50; the ratio line is ours / stock (throughput at least 1.0x).
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.bodies import Body
from benchmarks.report import machine
from benchmarks.sequential import sequential
from benchmarks.servers import bench_server
from benchmarks.stock import StockError, ensure_stock_venv
from markit.archive.mar_file import read_mar
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["DetectorOptions", "closed_loop", "measure_detectors", "render_detectors"]

STOCK = "digit_boxes_stock"
STOCK_THRESHOLD = 0.5  # the stock object_detector's class attribute

WRAP_SCRIPT = '''
import importlib.util, json, sys
from typing import Dict, List
import torch, torchvision

model_py, artifacts, state, out, mean, std, iou = sys.argv[1:8]
spec = importlib.util.spec_from_file_location("digit_boxes_model", model_py)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
net = module.DigitBoxes(artifacts=json.loads(artifacts))
net.load_state_dict(torch.load(state, weights_only=True))
net.eval()

class Stock(torch.nn.Module):
    def __init__(self, net, mean: float, std: float, iou: float):
        super().__init__()
        self.net, self.mean, self.std, self.iou = net, mean, std, iou

    def forward(self, images: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        boxes, scores, classes = self.net((images - self.mean) / self.std)
        found: List[Dict[str, torch.Tensor]] = []
        for row in range(boxes.shape[0]):
            keep = torchvision.ops.batched_nms(boxes[row], scores[row], classes[row], self.iou)
            found.append({"boxes": boxes[row][keep], "scores": scores[row][keep], "labels": classes[row][keep]})
        return found

traced = torch.jit.trace(net, torch.zeros(1, 1, 96, 96))
torch.jit.script(Stock(traced, float(mean), float(std), float(iou))).save(out)
print(json.dumps({"torch": torch.__version__, "torchvision": torchvision.__version__}))
'''


@dataclass(frozen=True)
class DetectorOptions:
    body: Body
    connections: int = 8
    seconds: float = 10.0
    warmup: float = 3.0
    rounds: int = 3
    unloaded_requests: int = 30


@dataclass
class DetectorRuns:
    ours: list[LoadResult] = field(default_factory=list)
    stock: list[LoadResult] = field(default_factory=list)
    ours_unloaded: list[LoadResult] = field(default_factory=list)
    stock_unloaded: list[LoadResult] = field(default_factory=list)
    check: str = ""


def stock_archive(archive: Path, example: Path, root: Path, progress: Callable[[str], None]) -> tuple[Path, str]:
    """The stock object_detector's archive of ``archive``'s graph (its model source, artifacts and weights)."""
    import torch
    from safetensors.torch import load_file

    venv = ensure_stock_venv(progress=progress)
    work = root / "stock-files"
    work.mkdir(parents=True, exist_ok=True)
    spec = json.loads(zipfile.ZipFile(archive).read("manifest.json"))["spec"]
    build = example / "build"
    torch.save(load_file(str(build / "weights.safetensors")), work / "state.pt")
    artifacts = {name: str(build / f"{name}.json") for name in ("decoding", "normalization")}
    progress("stock: scripting the digit detector with torchvision's batched_nms in the stock venv ...")
    script = work / "wrap.py"  # a file: TorchScript reads the wrapper's source
    script.write_text(WRAP_SCRIPT, encoding="utf-8")
    done = subprocess.run([str(venv / "bin" / "python"), str(script), str(example / "model.py"), json.dumps(artifacts),
                           str(work / "state.pt"), str(work / "model.pt"), str(spec["preprocess"]["mean"][0]),
                           str(spec["preprocess"]["std"][0]), str(spec["postprocess"]["iou_threshold"])],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StockError(f"scripting the stock detector failed:\n{done.stderr[-3000:]}")
    versions = json.loads(done.stdout.strip().splitlines()[-1])
    labels = [line for line in (example / "labels.txt").read_text(encoding="utf-8").splitlines() if line]
    (work / "index_to_name.json").write_text(json.dumps({str(i): name for i, name in enumerate(labels)}), encoding="utf-8")
    settings = read_mar(archive).settings
    config = {key: settings[key] for key in ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout")}
    (work / "model-config.yaml").write_text("".join(f"{key}: {value}\n" for key, value in config.items()), encoding="utf-8")
    subprocess.run([str(venv / "bin" / "torch-model-archiver"), "--model-name", STOCK, "--version", "1.0",
                    "--serialized-file", str(work / "model.pt"), "--handler", "object_detector",
                    "--extra-files", str(work / "index_to_name.json"), "--config-file", str(work / "model-config.yaml"),
                    "--export-path", str(root), "--force"], check=True, capture_output=True)
    return root / f"{STOCK}.mar", f"torch {versions['torch']}, torchvision {versions['torchvision']}"


def measure_detectors(archive: Path, example: Path, options: DetectorOptions, progress: Callable[[str], None],
                      root: Path) -> DetectorRuns:
    """The same-answers check, then ``options.rounds`` rounds of ours and the stock handler, each on a fresh server."""
    stock, versions = stock_archive(archive, example, root, progress)
    venv = ensure_stock_venv(progress=progress)
    info = read_mar(archive)
    runs = DetectorRuns()
    body = options.body
    for number in range(options.rounds + 1):  # round 0: the check only
        with bench_server([archive], root / f"ours-{number}", load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) \
                as server:
            if number == 0:
                ours_answer = _post_json(server, info.name, {"image": base64.b64encode(body.data).decode(), "threshold": STOCK_THRESHOLD})
            else:
                _measure(server, info.name, options, runs.ours, runs.ours_unloaded, progress, "ours")
        with bench_server([stock], root / f"stock-{number}", load=[stock.name], torchserve=venv / "bin" / "torchserve",
                          ready={STOCK: info.settings["maxWorkers"]}, unpack=False) as server:
            if number == 0:
                runs.check = _same(ours_answer, _post_bytes(server, STOCK, body), versions)
                progress(f"  {runs.check}")
            else:
                _measure(server, STOCK, options, runs.stock, runs.stock_unloaded, progress, "stock object_detector")
    return runs


def _measure(server, model: str, options: DetectorOptions, loaded: list, unloaded: list, progress: Callable[[str], None],
             label: str) -> None:
    loaded.append(closed_loop(server, model, options.body, options))
    body = options.body
    unloaded.append(sequential(server.url(model), body.data, body.content_type, server.token, count=options.unloaded_requests))
    progress(f"  {label}, closed loop: {loaded[-1].summary()}; unloaded p50 {unloaded[-1].p50_ms:.1f} ms")


def closed_loop(server, model: str, body: Body, options: DetectorOptions) -> LoadResult:
    """wrk's closed loop on ``model`` after a warm-up of the same load: the measured window."""
    url = server.url(model)
    run_wrk(url, body.data, body.content_type, server.token, connections=options.connections, seconds=options.warmup)
    return run_wrk(url, body.data, body.content_type, server.token, connections=options.connections, seconds=options.seconds)


def _post_json(server, model: str, payload: dict) -> dict:
    import requests

    reply = requests.post(server.url(model), json=payload, headers={"Authorization": f"Bearer {server.token}"}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def _post_bytes(server, model: str, body: Body) -> list:
    import requests

    reply = requests.post(server.url(model), data=body.data, headers={"Authorization": f"Bearer {server.token}",
                                                                        "Content-Type": body.content_type}, timeout=60)
    reply.raise_for_status()
    return reply.json()


def _same(ours: dict, stock: list, versions: str) -> str:
    """Both find the same digits with the same boxes (within 0.1 px), or StockError naming the difference."""
    mine = sorted((d["label"], *(round(v, 1) for v in d["box"].values())) for d in ours["detections"])
    theirs = sorted((label, *(round(v, 1) for v in box)) for item in stock for label, box in item.items() if label != "score")
    if len(mine) != len(theirs) or any(a[0] != b[0] or max(abs(x - y) for x, y in zip(a[1:], b[1:], strict=True)) > 0.1
                                       for a, b in zip(mine, theirs, strict=True)):
        raise StockError(f"the stock handler's answer differs from ours: {theirs} vs {mine}")
    return f"same answers: {len(mine)} digits, boxes within 0.1 px (stock venv: {versions})"


def render_detectors(archive: Path, options: DetectorOptions, runs: DetectorRuns) -> str:
    info = read_mar(archive)
    lines = [f"Ours against TorchServe's stock object_detector on the same graph: {archive.name}",
             f"  {info.name} {info.version}; both with its serving settings: workers {info.settings['maxWorkers']}, "
             f"batch_size {info.settings['batchSize']}, max_batch_delay {info.settings['maxBatchDelay']}",
             f"  body: {options.body.label}; closed loop: wrk, {options.connections} connections, {options.seconds:g} s after "
             f"{options.warmup:g} s warm-up; unloaded: {options.unloaded_requests} sequential requests; {options.rounds} rounds",
             f"  {runs.check}", f"  {machine()}", "",
             f"  {'handler':<28} {'throughput':>12} {'p50':>9} {'p99':>9} {'unloaded p50':>13}"]
    for label, loaded, unloaded in (("ours (object_detection)", runs.ours, runs.ours_unloaded),
                                    ("stock object_detector", runs.stock, runs.stock_unloaded)):
        lines.append(f"  {label:<28} {_median(loaded, 'throughput'):>9.1f} /s {_median(loaded, 'p50_ms'):>6.1f} ms "
                     f"{_median(loaded, 'p99_ms'):>6.1f} ms {_median(unloaded, 'p50_ms'):>10.1f} ms")
    ratios = [ours.throughput / stock.throughput for ours, stock in zip(runs.ours, runs.stock, strict=True) if stock.throughput]
    if ratios:
        verdict = "PASS" if statistics.median(ratios) >= 1.0 else "MISS"
        lines += ["", f"  ours / stock, closed-loop throughput: {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-"
                      f"{max(ratios):.2f}x)  goal >= 1  {verdict}"]
    return "\n".join(lines)


def _median(results: list[LoadResult], key: str) -> float:
    return statistics.median(getattr(result, key) for result in results) if results else float("nan")
