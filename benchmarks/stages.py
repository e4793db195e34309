"""Where one request's time goes, in process: each stage of an image archive's own task, timed on its own.

For each archive and its body, the archive is opened as a worker opens it (``LocalArchive``: its own task)
and one request at a time goes through the stages the task runs, each timed, ``repeat`` times after a
warm-up; the table shows each stage's median:

- **decode**: Pillow opens and decodes the image and turns it upright (EXIF), timed alone;
- **preprocess**: the rest of the task's ``decode`` (color mode, fitting to the model, normalization);
- **forward**: the model (for a detector its candidates; for MTCNN the whole cascade, its NMS included);
- **postprocess**: the task's threshold, NMS, mapping back to the photo, labels (or the mask's PNG);
- **encode**: the answer as JSON.

The engine's own share (HTTP, batching, the worker protocol) is what ``engines`` measures served, minus these.
"""

from __future__ import annotations

import io
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from benchmarks.bodies import Body

__all__ = ["STAGES", "StageTimes", "measure_stages", "render_stages"]

STAGES = ("decode", "preprocess", "forward", "postprocess", "encode")


@dataclass(frozen=True)
class StageTimes:
    archive: str
    body: str
    milliseconds: dict[str, float]  # each stage's median
    found: int  # detections, classes present, or labels, in the answer

    @property
    def total(self) -> float:
        return sum(self.milliseconds.values())


def measure_stages(archive: Path, body: Body, repeat: int = 30, warmup: int = 3) -> StageTimes:
    """Each stage's median over ``repeat`` requests of ``body`` to ``archive``, one at a time (while the archive is
    open, torch runs its ``serving.torch_threads``, as a worker does)."""
    from markit.offline import LocalArchive

    with LocalArchive(archive, batch_size=1) as local:
        task, core = local.task_handler, local.opened.core
        payload = local.opened.request({"body": body.data}, {"body": body.content_type}).payload
        samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
        answer: dict = {}
        for round_ in range(warmup + repeat):
            times, answer = _one(task, core.NO_METRICS, payload, body.data)
            if round_ >= warmup:
                for stage, seconds in times.items():
                    samples[stage].append(seconds * 1000)
    found = len(answer.get("detections", answer.get("classes", answer.get("predictions", []))))
    return StageTimes(archive.name, body.label, {stage: statistics.median(samples[stage]) for stage in STAGES}, found)


def _one(task: Any, metrics: Any, payload: Any, data: bytes) -> tuple[dict[str, float], dict]:
    """One request through the task's stages: each stage's seconds, and the answer."""
    marks = [time.perf_counter()]
    ImageOps.exif_transpose(Image.open(io.BytesIO(data))).load()
    marks.append(time.perf_counter())
    item = task.decode(payload, metrics)
    marks.append(time.perf_counter())
    outputs = task.forward([item])
    marks.append(time.perf_counter())
    answer = task.postprocess(outputs[0], item)
    marks.append(time.perf_counter())
    json.dumps(answer)
    marks.append(time.perf_counter())
    spans = [after - before for before, after in itertools.pairwise(marks)]
    times = dict(zip(STAGES, spans, strict=True))
    times["preprocess"] = max(0.0, times["preprocess"] - times["decode"])  # the task's decode decodes the image again
    return times, answer


def render_stages(results: Sequence[StageTimes], repeat: int) -> str:
    """A table: one row per archive and body, each stage's median in ms, their sum and what that allows."""
    lines = [f"median of {repeat} requests, one at a time, in process (the archive's own task, its torch_threads)", "",
             "| archive | body | " + " | ".join(STAGES) + " | total ms | requests/s | found |",
             "| --- | --- | " + " | ".join("---:" for _ in STAGES) + " | ---: | ---: | ---: |"]
    for result in results:
        cells = " | ".join(f"{result.milliseconds[stage]:.2f}" for stage in STAGES)
        lines.append(f"| {result.archive} | {result.body} | {cells} | {result.total:.2f} | {1000 / result.total:.1f} | {result.found} |")
    return "\n".join(lines)
