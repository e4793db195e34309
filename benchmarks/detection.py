"""The detectors' part of the one command (``compare``): each bundled detector served, and the stock handler.

For each detector (the faces example on a real photo, the digit detector on a page) the archive is served by
TorchServe with its shipped settings and gets a closed loop of wrk (after a warm-up): requests/s, p50 and
p99, and detections/s (requests/s times the detections in its answer to that body). Beside it, where each
request's time goes in process, stage by stage (``stages.py``: decode, preprocess, forward, postprocess with
its NMS, encode). Then the digit detector against TorchServe's stock ``object_detector`` on the same graph,
in rounds (``detectors.py``), with its ratio line.

The archives are built fresh from the examples (so the code measured is this checkout's), unless a store of
built ones is given.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.bodies import Body, file_body
from benchmarks.detectors import DetectorOptions, DetectorRuns, closed_loop, measure_detectors, render_detectors
from benchmarks.servers import REPO, bench_server
from benchmarks.stages import StageTimes, measure_stages, stage_names
from benchmarks.stock import StockError
from markit.archive.mar_file import read_mar
from markit.ops.load.stats import LoadResult

__all__ = ["DETECTORS", "DetectionFigures", "build_detectors", "measure_detection", "render_detection"]

EXAMPLES = REPO / "examples"
# archive name -> the real body it is measured on (made by building the example)
DETECTORS = {"faces": EXAMPLES / "faces" / "build" / "group.png",
             "digit_boxes": EXAMPLES / "digit_boxes" / "build" / "golden" / "canvas_0.png"}
STOCK_GRAPH = "digit_boxes"  # the detector the stock object_detector is given (a torchvision-style wrapper of it)


@dataclass(frozen=True)
class Served:
    archive: str
    body: Body
    closed: LoadResult
    stages: StageTimes

    @property
    def detections_per_second(self) -> float:
        return self.closed.throughput * self.stages.found


@dataclass
class DetectionFigures:
    served: list[Served] = field(default_factory=list)
    stock: DetectorRuns | None = None
    stock_options: DetectorOptions | None = None
    stock_archive: Path | None = None
    errors: dict[str, str] = field(default_factory=dict)


def build_detectors(out: Path, progress: Callable[[str], None]) -> dict[str, Path]:
    """Both detector archives, built from their examples into ``out`` as ``scripts/build_examples.sh`` builds them."""
    commands = [("faces: reading facenet-pytorch's MTCNN weights, building faces.mar ...",
                 [[sys.executable, str(EXAMPLES / "faces" / "weights.py"), "--output", str(EXAMPLES / "faces" / "build")],
                  [sys.executable, "-m", "markit.builder", str(EXAMPLES / "faces" / "spec.yaml"), "--output", str(out)]]),
                ("digit_boxes: training the digit detector (about a minute), building digit_boxes.mar ...",
                 [[sys.executable, str(EXAMPLES / "digit_boxes" / "train.py"), "--store", str(out)]])]
    for message, steps in commands:
        progress(message)
        for step in steps:
            subprocess.run(step, check=True, cwd=REPO, stdout=sys.stderr)  # their own output is progress
    return {name: out / f"{name}.mar" for name in DETECTORS}


def measure_detection(archives: dict[str, Path], options: DetectorOptions, root: Path, progress: Callable[[str], None],
                      with_stock: bool = True) -> DetectionFigures:
    """Each detector served and staged on its body, then (``with_stock``) the stock comparison on the digit detector
    (``options.body``: its page)."""
    figures = DetectionFigures()
    for name, body_path in DETECTORS.items():
        archive, body = archives[name], file_body(body_path)
        progress(f"{name}: stages in process, then served by TorchServe with its shipped settings ...")
        stages = measure_stages(archive, body)
        closed = _closed(archive, body, options, root / name)
        figures.served.append(Served(archive.name, body, closed, stages))
        progress(f"  {name}, closed loop: {closed.summary()}; {stages.found} per answer")
    if not with_stock:
        figures.errors["stock"] = "--no-stock"
        return figures
    figures.stock_options = options
    figures.stock_archive = archives[STOCK_GRAPH]
    try:
        figures.stock = measure_detectors(archives[STOCK_GRAPH], EXAMPLES / STOCK_GRAPH, figures.stock_options, progress,
                                          root / "stock")
    except (StockError, OSError) as err:
        figures.errors["stock"] = f"stock object_detector not measured: {err}"
        progress(f"  {figures.errors['stock']}")
    return figures


def _closed(archive: Path, body: Body, options: DetectorOptions, root: Path) -> LoadResult:
    info = read_mar(archive)
    with bench_server([archive], root, load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
        return closed_loop(server, info.name, body, options)


def render_detection(figures: DetectionFigures, options: DetectorOptions) -> str:
    """The detectors' table (served figures beside each stage's in-process median), then the stock comparison."""
    stage_list = stage_names([served.stages for served in figures.served])
    lines = ["detectors, each served by TorchServe with its shipped settings: wrk closed loop, "
             f"{options.connections} connections, {options.warmup:g} s warm-up + {options.seconds:g} s; stages: in process, "
             "one request at a time, median ms of 30",
             "", "| archive | body | requests/s | detections/s | p50 ms | p99 ms | failed | "
             + " | ".join(stage_list) + " |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in stage_list) + " |"]
    for served in figures.served:
        closed, stages = served.closed, served.stages.milliseconds
        lines.append(f"| {served.archive} | {served.body.label} | {closed.throughput:.1f} | {served.detections_per_second:.1f} | "
                     f"{closed.p50_ms:.1f} | {closed.p99_ms:.1f} | {closed.failed} | "
                     + " | ".join(f"{stages.get(stage, 0.0):.2f}" for stage in stage_list) + " |")
    lines.append("")
    if figures.stock is not None and figures.stock_options is not None and figures.stock_archive is not None:
        lines.append(render_detectors(figures.stock_archive, figures.stock_options, figures.stock))
    lines += [f"  not measured: {key}: {why}" for key, why in figures.errors.items()]
    return "\n".join(lines)

