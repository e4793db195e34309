"""The "read a number" pipeline two ways on TorchServe 0.12: as a workflow (``.war``) and as our pipeline archive.

The pipeline (``examples/read_number/spec.yaml``): a page of handwritten digits (PNG) -> the digit detector
(``digit_boxes.mar``) -> one box per digit (a box overlapping an earlier one's by more than IoU 0.5 dropped) ->
each box cropped from the page, widened by 2 px on every side, in grey with its levels stretched -> the digits
classifier (``digits.mar``) on each crop -> the digits ordered by their box's centre x:
``{"number": "24550", "digits": [{"digit", "probability", "box", "detector_label"}]}``.

**The workflow** (``benchmarks/war.py`` builds it, ``benchmarks/war_glue.py`` is its handler), served at
``POST /wfpredict/read_number``. TorchServe registers the two step archives as the models
``read_number__digit_boxes`` and ``read_number__digits`` with the workers and batching each ships, and each of
the three function nodes as a model of its own with one worker, batch size 1 (fixed by TorchServe). Its DAG
sends one body from node to node, so one request goes through five worker calls, each through the frontend:

1. ``page`` (function): the start node, the only node that sees the request (a DAG has one start node, and a
   node sees only what its predecessors answered); it passes the page on to the detector and to ``crop``;
2. ``digit_boxes`` (model): the page -> its detections;
3. ``crop`` (function): the page and the detections -> ONE request for the classifier, a KServe v1 body
   ``{"instances": [{"b64": <PNG crop>}, ...]}``: a node cannot send several requests to the next one, and the
   digits archive answers a v1 body with one answer per instance, in one forward pass;
4. ``digits`` (model): the crops -> ``{"predictions": [...]}``;
5. ``read`` (function): the detections and the classifier's answers -> the number, left to right.

``crop`` and ``read`` do what our archive's graph does (its filter, crop and read nodes); before anything is
timed, both sides' answers to the test page must agree digit for digit (``same_answers``).

**Ours**: ``read_number.mar`` (task ``pipeline``, the same two archives composed into one), served by the same
TorchServe at ``POST /predictions/read_number``: one request, one worker, every step in process.

Differences beyond the architecture, and what they cost the workflow: the page travels three times (client ->
page -> detector, page -> crop); every node's answer is JSON (or PNGs in base64) re-parsed by the next; the
function nodes cannot be given more workers or batches; a page on which nothing is detected still costs a call
of the classifier (``crop`` must send it something: an empty v1 request, which it refuses with 400, and which
``read`` does not read). A failing node is retried once (the workflow's default ``retry-attempts``).

Under load TorchServe 0.12 also loses answers of workflow nodes: ``DagExecutor.invokeModel`` queues a node's job
before it attaches the future it then waits on, so a worker that answers in between (a function node answers in
1-2 ms) has its answer dropped; the call waits out the node's ``timeout-ms`` (10 s by default) and is retried once.
The report counts these stalls (the frontend logs each one); each holds one of wrk's connections for 10 s, and
a request still waiting when wrk's window ends is in neither the throughput nor the percentiles.

What each does when a step fails (the report records it, for both): a body that is not an image, a blank page,
and a page where the classifier step fails (``benchmarks/digit_pages.py``: a bold digit the detector finds but
whose crop, levels stretched, the classifier calls blank). In a workflow, a step's refusal reaches the next node
as its input (TorchServe 0.12 completes a model node with whatever its handler answered, whatever the status),
so the glue checks each answer and raises, naming the step, its status and its message: the only way a node can
fail a workflow request.

Measured in rounds on fresh servers, the two sides taking turns going first: each server first must answer the
test page with the number written on it; then a closed loop of wrk (8 connections, after a warm-up) and
sequential requests for the unloaded p50. The failure cases are sent in round 1, after the timing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

import markit
from benchmarks.bodies import Body
from benchmarks.compare import archive_summary
from benchmarks.digit_pages import blank_page, bold_page, not_an_image
from benchmarks.report import machine
from benchmarks.sequential import sequential
from benchmarks.servers import BenchServer, FrontendCounters, bench_server
from benchmarks.war import ARCHIVER, DAG, STEPS, WORKFLOW, WorkflowError, register_workflow
from benchmarks.war_glue import crop_pngs, one_per_digit
from markit.archive.mar_file import read_mar
from markit.errors import MarkitError
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["OURS", "Measured", "PipelineOptions", "PipelineRuns", "Probe", "excerpt", "measure_ours", "measure_pipelines",
           "measure_workflow", "per_call", "render_workflow",
           "same_answers", "timed_out"]

OURS = "read_number"  # our pipeline archive's model name (read_number.mar)
SIDES = ("TorchServe workflow (.war)", "ours (pipeline archive)")
EXCERPT = 300  # characters of an answer kept in the report
TS_LOG = "ts_log.log"  # the frontend's log
PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PipelineOptions:
    body: Body
    number: str  # what the body reads: both sides must answer it before anything is timed
    connections: int = 8
    seconds: float = 10.0
    warmup: float = 3.0
    rounds: int = 3
    unloaded_requests: int = 30
    node_timeout_ms: int | None = None  # the workflow's timeout-ms, when not TorchServe's default (10000)


@dataclass(frozen=True)
class Probe:
    """What one side answered one failure case."""

    case: str
    status: int
    answer: str  # the body, compact, cut at EXCERPT characters
    milliseconds: float


@dataclass(frozen=True)
class Measured:
    """One side in one round."""

    closed: LoadResult
    unloaded: LoadResult
    nodes: dict[str, FrontendCounters]  # TorchServe's counters per model, over the closed loop
    probes: tuple[Probe, ...] = ()
    stalls: int = 0  # workflow node calls that timed out under the closed loop (see ``timed_out``)
    answer: dict[str, Any] = field(default_factory=dict)  # the answer to the test page


@dataclass
class PipelineRuns:
    workflow: list[Measured] = field(default_factory=list)
    ours: list[Measured] = field(default_factory=list)
    rounds: list[tuple[int, int]] = field(default_factory=list)  # per round: index into workflow, into ours (-1: none)
    ours_missing: str = ""  # why ours was not measured (absent archive, a failed start or check)
    same: str = ""  # whether both sides' answers to the test page agree (``same_answers``)
    evidence: str = ""  # what each step says of the page where the classifier step fails


def failure_cases() -> list[tuple[str, Body]]:
    """The failure cases: (what, body)."""
    return [("not an image", not_an_image()), ("blank page: nothing detected", blank_page()),
            ("the classifier step fails", bold_page())]


# -- serving ---------------------------------------------------------------------------------------------------

@contextmanager
def serving_workflow(store: Path, war: Path, root: Path) -> Iterator[tuple[BenchServer, str, list[str]]]:
    """A server with the step archives of ``store`` and the workflow registered: (server, its URL, its models)."""
    archives = [store / f"{step}.mar" for step in STEPS]
    with bench_server(archives, root, overrides={"workflow_store": str(war.parent)}) as server:
        register_workflow(server, war.name)
        nodes = list(dict.fromkeys([*DAG, *(child for children in DAG.values() for child in children)]))
        yield server, f"{server.process.url('inference')}/wfpredict/{WORKFLOW}", [f"{WORKFLOW}__{node}" for node in nodes]


@contextmanager
def serving_ours(archive: Path, root: Path) -> Iterator[tuple[BenchServer, str, list[str]]]:
    """A server with our pipeline archive loaded, its workers ready: (server, its URL, its model)."""
    info = read_mar(archive)
    with bench_server([archive], root, load=[info.mar_name], ready={info.name: info.settings["maxWorkers"]}) as server:
        yield server, server.url(info.name), [info.name]


def measure_workflow(store: Path, war: Path, options: PipelineOptions, root: Path, progress: Callable[[str], None],
                     probe: bool = False) -> tuple[Measured, str]:
    """The workflow on a fresh server: the check, the closed loop, the unloaded p50 (and with ``probe`` the failure
    cases, and what each step says of the page where the classifier fails)."""
    with serving_workflow(store, war, root) as (server, url, models):
        measured = _measure(server, url, models, options, progress, SIDES[0], probe)
        return measured, step_evidence(server, bold_page()) if probe else ""


def measure_ours(archive: Path, options: PipelineOptions, root: Path, progress: Callable[[str], None],
                 probe: bool = False) -> Measured:
    """Our pipeline archive on a fresh server, measured as the workflow is."""
    with serving_ours(archive, root) as (server, url, models):
        return _measure(server, url, models, options, progress, SIDES[1], probe)


def measure_pipelines(store: Path, war: Path, ours: Path, options: PipelineOptions, root: Path,
                      progress: Callable[[str], None]) -> PipelineRuns:
    """``options.rounds`` rounds of both sides on fresh servers, taking turns going first; ours is left out (and
    says why) when its archive is absent or its server fails, so the workflow's figures still come."""
    runs = PipelineRuns()
    if not ours.is_file():
        runs.ours_missing = f"{ours} does not exist (yet)"
    for number in range(1, options.rounds + 1):
        indices = [-1, -1]
        order = (0, 1) if number % 2 else (1, 0)
        for side in order:
            progress(f"round {number}/{options.rounds}: {SIDES[side]} ...")
            if side == 0:
                measured, evidence = measure_workflow(store, war, options, root / f"workflow-{number}", progress, probe=number == 1)
                runs.workflow.append(measured)
                runs.evidence = runs.evidence or evidence
                indices[0] = len(runs.workflow) - 1
            elif not runs.ours_missing:
                try:
                    runs.ours.append(measure_ours(ours, options, root / f"ours-{number}", progress, probe=not runs.ours))
                    indices[1] = len(runs.ours) - 1
                except (MarkitError, OSError, ValueError, KeyError, requests.RequestException) as err:  # ours is in the making
                    runs.ours_missing = f"{type(err).__name__}: {str(err).strip()[:2000]}"
                    progress(f"  ours not measured: {runs.ours_missing}")
        runs.rounds.append((indices[0], indices[1]))
        if number == 1 and runs.workflow and runs.ours:
            runs.same = same_answers(runs.workflow[0].answer, runs.ours[0].answer)
            progress(f"  {runs.same}")
    return runs


def _measure(server: BenchServer, url: str, models: Sequence[str], options: PipelineOptions, progress: Callable[[str], None],
             label: str, probe: bool) -> Measured:
    body, token = options.body, server.token
    answer = check_answer(url, token, body, options.number)
    run_wrk(url, body.data, body.content_type, token, connections=options.connections, seconds=options.warmup)
    before, stalled = {model: server.counters(model) for model in models}, timed_out(server.process.log_text(TS_LOG))
    closed = server.watched(lambda: run_wrk(url, body.data, body.content_type, token, connections=options.connections,
                                            seconds=options.seconds))
    nodes = {model: per_call(server.counters(model) - before[model], closed.ok + closed.failed) for model in models}
    stalls = len(timed_out(server.process.log_text(TS_LOG)) - stalled)
    unloaded = sequential(url, body.data, body.content_type, token, count=options.unloaded_requests)
    progress(f"  {label}, closed loop: {closed.summary()}; {stalls} node call(s) timed out; unloaded p50 {unloaded.p50_ms:.1f} ms")
    probes = tuple(send_probe(url, token, case, case_body) for case, case_body in failure_cases()) if probe else ()
    for item in probes:
        progress(f"  {label}, {item.case}: {item.status} {item.answer}")
    return Measured(closed, unloaded, nodes, probes, stalls, answer)


def timed_out(log: str) -> set[str]:
    """The frontend log's lines saying a workflow node's call timed out (each event once: the log holds each line
    twice). TorchServe 0.12 queues a node's job before it attaches the future the DAG waits on
    (``DagExecutor.invokeModel``); a worker that answers in between has its answer dropped, and the call waits out
    the node's ``timeout-ms`` (10 s by default) and is retried (``retry-attempts``, 1 by default)."""
    return {line for line in log.splitlines() if "Timed out while executing" in line}


def per_call(counters: FrontendCounters, answered: int) -> FrontendCounters:
    """``counters`` with its request count. TorchServe 0.12 counts requests only on its inference API, not the calls of
    a workflow's nodes (their latency and queue time it does sum): each node is called once per workflow request,
    so those are the requests the closed loop got answered (within the few in flight at the window's edges)."""
    return counters if counters.requests > 0 else FrontendCounters(float(answered), counters.latency_us, counters.queue_us)


# -- requests --------------------------------------------------------------------------------------------------

def _post(url: str, token: str, body: Body, timeout: float = 60.0) -> requests.Response:
    return requests.post(url, data=body.data, headers={"Authorization": f"Bearer {token}", "Content-Type": body.content_type},
                         timeout=timeout)


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """An answer as one line: JSON compacted (TorchServe indents what a function node returns), cut at ``limit``."""
    try:
        text = json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def check_answer(url: str, token: str, body: Body, number: str) -> dict[str, Any]:
    """The server's answer to ``body``, which must read ``number``; WorkflowError with what it answered otherwise."""
    reply = _post(url, token, body)
    try:
        answer = reply.json() if reply.ok else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or answer.get("number") != number:
        raise WorkflowError(f"{url} answered {reply.status_code} {excerpt(reply.text)}; expected the number {number}")
    return answer


def same_answers(workflow: dict[str, Any], ours: dict[str, Any], tolerance: float = PROBABILITY_TOLERANCE) -> str:
    """Whether both sides read the same digits: the same digit, box and detector label for each, in order, and
    probabilities within ``tolerance`` (a batch's sums may differ in the last digits); a line saying so, or what differs."""
    mine, theirs = workflow.get("digits", []), ours.get("digits", [])
    keys = ("digit", "box", "detector_label")
    if len(mine) != len(theirs) or any(a.get(key) != b.get(key) for a, b in zip(mine, theirs, strict=False) for key in keys):
        return f"the answers DIFFER: workflow {excerpt(json.dumps(mine))} vs ours {excerpt(json.dumps(theirs))}"
    spread = max((abs(a["probability"] - b["probability"]) for a, b in zip(mine, theirs, strict=True)), default=0.0)
    if spread > tolerance:
        return f"the answers DIFFER: probabilities {spread:.2g} apart (tolerance {tolerance:g})"
    return (f"same answers: {len(mine)} digits with the same boxes and detector labels, probabilities within {spread:.1g} "
            f"(tolerance {tolerance:g})")


def send_probe(url: str, token: str, case: str, body: Body) -> Probe:
    started = time.perf_counter()
    reply = _post(url, token, body)
    return Probe(case, reply.status_code, excerpt(reply.text), 1000 * (time.perf_counter() - started))


def step_evidence(server: BenchServer, page: Body) -> str:
    """What the workflow's step models say of ``page`` on their own: the detections, then the classifier on each
    crop (so the report shows the case exercised the classifier's refusal, whatever the detector trained here)."""
    token = server.token
    reply = _post(server.url(f"{WORKFLOW}__digit_boxes"), token, page)
    detections = one_per_digit(reply.json().get("detections", []) if reply.ok else [])
    said = [f"{d['label']} (score {d['score']:.2f})" for d in detections]
    answers = []
    for crop in crop_pngs(page.data, detections):
        answer = _post(server.url(f"{WORKFLOW}__digits"), token, Body(crop, "image/png", "crop"))
        answers.append(f"{answer.status_code} {excerpt(answer.text, 120)}")
    return (f"the detector alone finds {', '.join(said) or 'nothing'} (HTTP {reply.status_code}); the classifier alone, "
            f"on each crop: " + "; ".join(answers or ["no crop"]))


# -- the report ------------------------------------------------------------------------------------------------

def render_workflow(store: Path, ours: Path, options: PipelineOptions, runs: PipelineRuns) -> str:
    steps = [read_mar(store / f"{step}.mar") for step in STEPS]
    lines = ["The \"read a number\" pipeline on TorchServe 0.12: a workflow (.war) against our pipeline archive",
             *(f"  step {info.mar_name}: {archive_summary(info)}" for info in steps),
             f"  workflow: {WORKFLOW}.war ({ARCHIVER}), POST /wfpredict/{WORKFLOW}; DAG "
             + "; ".join(f"{node} -> {', '.join(children)}" for node, children in DAG.items())
             + "; the function nodes page, crop, read: 1 worker, batch 1 each; each node's timeout-ms "
             + (f"{options.node_timeout_ms}" if options.node_timeout_ms is not None else "10000 (TorchServe's default)"),
             f"  ours: {ours.name}: " + (f"not measured: {runs.ours_missing}" if runs.ours_missing else
                                          f"{archive_summary(read_mar(ours))}, POST /predictions/{OURS}"),
             f"  body: {options.body.label}; both must first answer {options.number}"
             + (f"; {runs.same}" if runs.same else ""),
             f"  closed loop: wrk, {options.connections} connections, {options.seconds:g} s after {options.warmup:g} s warm-up; "
             f"unloaded: {options.unloaded_requests} sequential requests; {options.rounds} rounds, fresh servers, sides in turn",
             f"  {machine()}; the servers' archives checked and unpacked by markit at {Path(markit.__file__).parent}", "",
             f"  {'side':<28} {'throughput':>12} {'p50':>9} {'p99':>9} {'unloaded p50':>13} {'failed':>7} {'stalls':>7} "
             f"{'others':>7}"]
    for label, measured in zip(SIDES, (runs.workflow, runs.ours), strict=True):
        if measured:
            closed, unloaded = [m.closed for m in measured], [m.unloaded for m in measured]
            lines.append(f"  {label:<28} {_median(closed, 'throughput'):>9.1f} /s {_median(closed, 'p50_ms'):>6.1f} ms "
                         f"{_median(closed, 'p99_ms'):>6.1f} ms {_median(unloaded, 'p50_ms'):>10.1f} ms "
                         f"{sum(r.failed for r in closed + unloaded):>7} {sum(m.stalls for m in measured):>7} "
                         f"{_median_others(closed):>7.2f}")
        else:
            lines.append(f"  {label:<28} not measured")
    lines += ["  (medians over the rounds; failed: non-2xx answers, all rounds; stalls: node calls that timed out, all "
              "rounds; others: cores other processes kept busy meanwhile, above 0.25 the run was disturbed)",
              "", *_ratio_lines(runs)]
    if runs.workflow:
        lines += ["", "  the workflow's nodes under the closed loop (round 1, TorchServe's counters: mean ms per call in the server, "
                      "of which queued for a worker):",
                  "    " + "; ".join(_node(name, counters) for name, counters in runs.workflow[0].nodes.items())]
    lines += ["", "  when a step fails (status, answer):"]
    probes = {label: {p.case: p for p in measured[0].probes} if measured else {} for label, measured in
              zip(SIDES, (runs.workflow, runs.ours), strict=True)}
    for case, body in failure_cases():
        lines.append(f"    {case}: {body.label}")
        for label in SIDES:
            item = probes[label].get(case)
            said = f"{item.status} in {item.milliseconds:.0f} ms: {item.answer}" if item else "not measured"
            lines.append(f"      {label:<28} {said}")
    if runs.evidence:
        lines.append(f"    (the classifier-step case, step by step: {runs.evidence})")
    return "\n".join(lines)


def _ratio_lines(runs: PipelineRuns) -> list[str]:
    pairs = [(runs.workflow[w], runs.ours[o]) for w, o in runs.rounds if w >= 0 and o >= 0]
    if not pairs:
        return ["  ours / workflow: not measured (ours was not served)"]
    lines = []
    for what, key, better in (("closed-loop throughput", "throughput", "higher"), ("closed-loop p99", "p99_ms", "lower"),
                              ("unloaded p50", "p50_ms", "lower")):
        source = "unloaded" if what.startswith("unloaded") else "closed"
        ratios = [getattr(getattr(o, source), key) / getattr(getattr(w, source), key) for w, o in pairs
                  if getattr(getattr(w, source), key) > 0]
        if ratios:
            lines.append(f"  ours / workflow, {what}: {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x; "
                         f"{better} is better)")
    return lines


def _node(model: str, counters: FrontendCounters) -> str:
    name = model.removeprefix(f"{WORKFLOW}__")
    if counters.requests <= 0:
        return f"{name}: no calls counted"
    return (f"{name} {counters.latency_us / counters.requests / 1000:.1f} ms "
            f"({counters.queue_us / counters.requests / 1000:.1f} queued)")


def _median_others(results: list[LoadResult]) -> float:
    shares = [result.cores.others for result in results if result.cores is not None]
    return statistics.median(shares) if shares else float("nan")


def _median(results: list[LoadResult], key: str) -> float:
    return statistics.median(getattr(result, key) for result in results) if results else float("nan")


if __name__ == "__main__":  # python -m benchmarks.workflow [--store DIR ...]: the same as python -m benchmarks pipelines
    from benchmarks.cli import main

    sys.exit(main(["pipelines", *sys.argv[1:]]))
