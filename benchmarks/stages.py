"""Where one request's time goes, in process: each stage of an archive's own task, timed on its own.

The archive is opened as a worker opens it (``LocalArchive``: its own task, its ``serving.torch_threads``) and
one request at a time goes through the stages the task runs, ``repeat`` times after a warm-up; each stage's
median is kept. The model's callables are wrapped with a clock on this task object only, so the model's own
time is told apart from the task's code around it. The stages, by what the task takes:

- **decode** (an image body): Pillow opens and decodes the image and turns it upright (EXIF), timed alone;
- **preprocess** (an image body): the rest of the task's ``decode``: color mode, fitting to the model, normalization;
- **tokenize** (anything else): the task's ``decode``: the archive's tokenizer (for G2P: the word's letters to
  symbols; for JSON, its parsing and checks);
- **collate**: the task's ``forward`` around the model: stacking the batch, and any steps of its own (a pipeline,
  which has no model of its own, shows its whole graph of steps as **forward**);
- **forward**: the model (for a detector its candidates; for MTCNN the whole cascade, its NMS included);
- for a sequence generator instead: **encoder**, **decoder steps** (every step of the search, summed) and
  **search** (the beam search's own bookkeeping between the steps);
- **postprocess**: the task's threshold, NMS, mapping back to the photo, labels, top-k (or the mask's PNG);
- **encode**: the answer as JSON.

The body is the one given, or else the archive's first golden example (the input the archive ships).
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from markit.ops.load.body import Body, golden_body

__all__ = ["MODEL_CALLABLES", "ORDER", "StageTimes", "measure_stages", "render_stages", "stage_names"]

# the task's attributes that hold the model's programs, and the stage each one's time counts under
MODEL_CALLABLES = {"model": "forward", "encode": "encoder", "decode_step": "decoder steps"}


@dataclass(frozen=True)
class StageTimes:
    archive: str
    task: str
    body: str
    milliseconds: Mapping[str, float]  # each stage's median, in the order the request goes through them
    found: int  # detections, classes present, or labels, in the answer

    @property
    def total(self) -> float:
        return sum(self.milliseconds.values())


class _Clock:
    """Seconds spent in the wrapped callables, per stage name, since the last ``reset``."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def reset(self) -> None:
        self.spent = {}

    def wrap(self, function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - started
        return timed


def measure_stages(archive: Path, body: Body | None = None, repeat: int = 30, warmup: int = 3) -> StageTimes:
    """Each stage's median over ``repeat`` requests of ``body`` (default: the archive's golden example) to
    ``archive``, one at a time."""
    from markit.offline import LocalArchive

    body = body or golden_body(archive)
    with LocalArchive(archive, batch_size=1) as local:
        task, core = local.task_handler, local.opened.core
        clock = _Clock()
        for attribute, stage in MODEL_CALLABLES.items():
            if callable(getattr(task, attribute, None)):
                setattr(task, attribute, clock.wrap(getattr(task, attribute), stage))  # this task object only
        payload = local.opened.request({"body": body.data}, {"body": body.content_type}).payload
        samples: dict[str, list[float]] = {}
        answer: Any = {}
        for round_ in range(warmup + repeat):
            times, answer = _one(task, core.NO_METRICS, payload, body, clock)
            if round_ >= warmup:
                for stage, seconds in times.items():
                    samples.setdefault(stage, []).append(seconds * 1000)
    medians = {stage: statistics.median(values) for stage, values in samples.items()}
    return StageTimes(archive.name, task.task, body.label, medians, _found(answer))


def _one(task: Any, metrics: Any, payload: Any, body: Body, clock: _Clock) -> tuple[dict[str, float], Any]:
    """One request through the task's stages: each stage's seconds, and the answer."""
    times: dict[str, float] = {}
    image = body.content_type.startswith("image/")
    if image:
        started = time.perf_counter()
        ImageOps.exif_transpose(Image.open(io.BytesIO(body.data))).load()
        times["decode"] = time.perf_counter() - started
    started = time.perf_counter()
    item = task.decode(payload, metrics)
    decoded = time.perf_counter() - started
    times["preprocess" if image else "tokenize"] = max(0.0, decoded - times.get("decode", 0.0))  # decode decodes again
    clock.reset()
    started = time.perf_counter()
    outputs = task.forward([item])
    forward = time.perf_counter() - started
    model = sum(clock.spent.values())
    rest = "search" if "encoder" in clock.spent else "collate" if clock.spent else "forward"  # no model: a pipeline's steps
    times[rest] = max(0.0, forward - model)
    times.update(clock.spent)
    started = time.perf_counter()
    answer = task.postprocess(outputs[0] if item.rows is None else outputs[:item.rows], item)  # as the batch core slices
    times["postprocess"] = time.perf_counter() - started
    started = time.perf_counter()
    json.dumps(answer)
    times["encode"] = time.perf_counter() - started
    return _ordered(times), answer


ORDER = ("decode", "preprocess", "tokenize", "collate", "forward", "encoder", "decoder steps", "search", "postprocess", "encode")


def _ordered(times: Mapping[str, float]) -> dict[str, float]:
    return {stage: times[stage] for stage in ORDER if stage in times}


def _found(answer: Any) -> int:
    if not isinstance(answer, dict):
        return len(answer) if isinstance(answer, list) else 1
    for key in ("detections", "classes", "predictions", "candidates", "embedding"):
        if isinstance(answer.get(key), list):
            return len(answer[key])
    return 1


def stage_names(results: Sequence[StageTimes]) -> list[str]:
    """Every stage any result has, in the request's order."""
    present = {stage for result in results for stage in result.milliseconds}
    return [stage for stage in ORDER if stage in present]


def render_stages(results: Sequence[StageTimes], repeat: int) -> str:
    """A table: one row per archive and body, each stage's median in ms (blank where the task has no such stage),
    their sum and what that allows one thread."""
    stages = stage_names(results)
    lines = [f"median of {repeat} requests, one at a time, in process (the archive's own task, its torch_threads)", "",
             "| archive | task | body | " + " | ".join(stages) + " | total ms | requests/s | found |",
             "| --- | --- | --- | " + " | ".join("---:" for _ in stages) + " | ---: | ---: | ---: |"]
    for result in results:
        cells = " | ".join(f"{result.milliseconds[stage]:.2f}" if stage in result.milliseconds else "" for stage in stages)
        lines.append(f"| {result.archive} | {result.task} | {result.body} | {cells} | {result.total:.2f} | "
                     f"{1000 / result.total:.1f} | {result.found} |")
    return "\n".join(lines)
