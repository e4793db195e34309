"""Pipelines in the one benchmark command: what composing costs, and a pipeline under load.

1. **Overhead.** The read_number pipeline against its steps called directly, in process, on the same held-out
   pages in batches of 8: the pipeline's archive answering each batch, against the detector's archive answering
   it, the same glue functions (filter, crop, the example's ``read_left_to_right``), and the classifier's archive
   answering every crop of the batch in one call. Both read the same numbers (checked). The figure is the time
   per request of each, best of the rounds, and their ratio; the goal is at most 1.10.
2. **Soak.** A pipeline of three steps (``benchmarks/specs/say_number.yaml``: digit_boxes -> digits -> g2p_en)
   served by TorchServe, 50 connections of wrk for 60 s: how many requests were answered, how many failed (none
   should: every page is a good one), the tail, and a request after the load (nothing hangs).

The archives are built fresh (the digit models trained, g2p-en ported, the pipelines built) unless a store of
built ones is given.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import requests

from benchmarks.bodies import Body
from benchmarks.servers import REPO, bench_server
from markit.archive.verify import verify_mar
from markit.builder import build_archive
from markit.offline import LocalArchive, LocalRequest
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk
from markit.tasks.pipeline.glue import crop_boxes, filtered
from markit.tasks.pipeline.manifest import Filter

__all__ = ["Overhead", "Soak", "build_pipeline_store", "measure_overhead", "render_pipelines", "soak"]

EXAMPLES = REPO / "examples"
SAY_NUMBER = REPO / "benchmarks" / "specs" / "say_number.yaml"
BATCH = 8
OVERHEAD_GOAL = 1.10
MAX_PIXELS = 40_000_000  # the pipeline's budget (the image tasks' default)


@dataclass(frozen=True)
class Overhead:
    pages: int
    rounds: int
    pipeline_ms: float  # per request, best round
    direct_ms: float

    @property
    def ratio(self) -> float:
        return self.pipeline_ms / self.direct_ms

    @property
    def verdict(self) -> str:
        return "PASS" if self.ratio <= OVERHEAD_GOAL else "MISS"


@dataclass(frozen=True)
class Soak:
    connections: int
    load: LoadResult
    after_status: int  # a request sent once the load ended
    after_ms: float


def build_pipeline_store(out: Path, progress: Callable[[str], None]) -> Path:
    """digits, digit_boxes and g2p_en built here, then read_number, phonemes and say_number of them, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    steps = [(EXAMPLES / "digits" / "train.py", "--output"), (EXAMPLES / "digit_boxes" / "train.py", "--store"),
             (EXAMPLES / "g2p_en" / "port.py", "--output"), (EXAMPLES / "read_number" / "build.py", "--store"),
             (EXAMPLES / "phonemes" / "build.py", "--store")]
    for script, flag in steps:
        progress(f"building {script.parent.name} ...")
        subprocess.run([sys.executable, str(script), flag, str(out)], check=True, cwd=REPO, capture_output=True)
    build_say_number(out)
    return out


def build_say_number(store: Path) -> Path:
    """The three-step pipeline from the store's archives, its golden page read_number's first."""
    overrides = []
    for step, file in (("boxes", "digit_boxes.mar"), ("digit", "digits.mar"), ("g2p", "g2p_en.mar")):
        overrides += [f"steps.{step}.archive={(store / file).resolve()}", f"steps.{step}.identity={verify_mar(store / file)}"]
    page, number = golden_page(store / "read_number.mar")
    overrides.append("golden=" + json.dumps([{"input": str(page), "expected": {"number": number}}]))
    return build_archive(SAY_NUMBER, store, progress=lambda _: None, overrides=overrides).path


def golden_page(read_number: Path) -> tuple[Path, str]:
    """read_number's first golden page (its file in examples/read_number/build/golden) and its true number."""
    with zipfile.ZipFile(read_number) as archive:
        first = json.loads(archive.read("manifest.json"))["spec"]["golden"][0]
    original = first["input"].split("/", 1)[1].split("_", 1)[1]  # golden/0_page_3.png -> page_3.png
    return EXAMPLES / "read_number" / "build" / "golden" / original, first["expected"]["number"]


def _example(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}_{Path(file).stem}", EXAMPLES / name / file)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(EXAMPLES / name))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES / name))
    return module


def measure_overhead(store: Path, pages: int = 64, rounds: int = 5) -> Overhead:
    """The read_number pipeline against its steps called directly, per request (see the module docstring)."""
    made = _example("read_number", "pages.py")
    glue = _example("read_number", "pipeline.py")
    bodies = [made.png(page) for page in made.held_out_pages(pages, made.HELD_OUT_SEED)]
    batches = [[LocalRequest.raw(body, "image/png") for body in bodies[start:start + BATCH]] for start in range(0, pages, BATCH)]
    dedupe = Filter(id="digits_found", filter="found.detections", max_iou=0.5)
    with LocalArchive(store / "read_number.mar", BATCH) as pipeline, LocalArchive(store / "digit_boxes.mar", BATCH) as boxes, \
            LocalArchive(store / "digits.mar", BATCH) as digits:

        def through_pipeline() -> list[str]:
            return [answer.body["number"] for batch in batches for answer in pipeline.predict(batch)]

        def direct() -> list[str]:
            numbers = []
            for batch in batches:
                kept = [filtered(dedupe, answer.body["detections"]) for answer in boxes.predict(batch)]
                crops = [crop_boxes(r.fields["body"], found, 2, MAX_PIXELS, True) for r, found in zip(batch, kept, strict=True)]
                read = digits.predict([LocalRequest.raw(c, "application/octet-stream") for page in crops for c in page])
                offset = 0
                for found in kept:
                    mine = [answer.body for answer in read[offset:offset + len(found)]]
                    offset += len(found)
                    numbers.append(glue.read_left_to_right(found, mine)["number"])
            return numbers

        if through_pipeline() != direct():
            raise RuntimeError("the pipeline and its steps called directly read different numbers")
        pipeline_s = min(_timed(through_pipeline) for _ in range(rounds))
        direct_s = min(_timed(direct) for _ in range(rounds))
    return Overhead(pages, rounds, pipeline_s * 1000 / pages, direct_s * 1000 / pages)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def soak(store: Path, root: Path, connections: int = 50, seconds: float = 60.0) -> Soak:
    """say_number.mar served by TorchServe under ``connections`` for ``seconds``, then one more request."""
    page, _ = golden_page(store / "read_number.mar")
    body = Body(page.read_bytes(), "image/png", f"{page.name} (a held-out page)")
    with bench_server([store / "say_number.mar"], root, load=["say_number.mar"], ready={"say_number": 1}) as server:
        load = run_wrk(server.url("say_number"), body.data, body.content_type, server.token, connections=connections,
                       seconds=seconds, timeout=30)
        started = time.perf_counter()
        after = requests.post(server.url("say_number"), data=body.data, timeout=30,
                              headers={"Authorization": f"Bearer {server.token}", "Content-Type": body.content_type})
    return Soak(connections, load, after.status_code, (time.perf_counter() - started) * 1000)


def render_pipelines(overhead: Overhead | None, soaked: Soak | None) -> str:
    lines = ["pipelines (docs/pipelines.md):"]
    if overhead is not None:
        lines.append(f"  overhead, read_number in process, {overhead.pages} held-out pages in batches of {BATCH}, best of "
                     f"{overhead.rounds}: pipeline {overhead.pipeline_ms:.2f} ms/request, its steps called directly "
                     f"{overhead.direct_ms:.2f} ms/request: {overhead.ratio:.3f}x (goal <= {OVERHEAD_GOAL:.2f}x) {overhead.verdict}")
    if soaked is not None:
        load = soaked.load
        failed = "none" if not load.failed else f"{load.failed} ({dict(load.statuses)})"
        lines.append(f"  soak, say_number (3 steps) on TorchServe, {soaked.connections} connections for {load.seconds:.0f} s: "
                     f"{load.ok} answered ({load.throughput:.1f}/s), failed: {failed}, p50 {load.p50_ms:.0f} ms, "
                     f"p99 {load.p99_ms:.0f} ms; a request after the load: HTTP {soaked.after_status} in {soaked.after_ms:.0f} ms "
                     + ("PASS" if not load.failed and soaked.after_status == 200 else "MISS"))
    return "\n".join(lines)
