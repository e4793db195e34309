"""Words/s of a seq2seq archive (the G2P example), greedy against beam search, one word and many per request.

    ./scripts/benchmark.sh g2p [--archive model_store/g2p_en.mar] [--rounds 1] [--seconds 10]

Per round, on a fresh TorchServe with the archive's shipped settings (then on the KServe runtime), each scenario
gets a closed loop of wrk on ``/predictions`` (``--connections`` requests in flight, after a warm-up), then
sequential requests for the unloaded latency: one word per request and ``WORDS`` words per request, each with
``beam_width`` 1 (greedy) and 5. Words/s = requests/s x words per request. Prints figures, asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.report import machine
from benchmarks.sequential import sequential
from benchmarks.servers import bench_server, place
from harness import KServeRuntimeProcess
from markit.archive.mar_file import read_mar
from markit.ops.load.stats import LoadResult
from markit.ops.load.wrk import run_wrk

__all__ = ["G2POptions", "measure_g2p", "render_g2p"]

WORD = "pronunciation"
WORDS = ("aniston", "bassoonist", "identifiers", "notepad", "vestibular", "chiaoscuro", "kubernetes", "quinoa",
         "record", "present", "tomato", "nvidia", "hadoop", "upvotes", "techcrunch", "ablation")
BEAMS = (1, 5)
ENGINES = ("TorchServe", "KServe runtime")


@dataclass(frozen=True)
class G2POptions:
    connections: int = 8
    seconds: float = 10.0
    warmup: float = 3.0
    rounds: int = 1
    unloaded_requests: int = 30


@dataclass(frozen=True)
class Scenario:
    words: int
    beam_width: int

    @property
    def label(self) -> str:
        search = "greedy" if self.beam_width == 1 else f"beam {self.beam_width}"
        return f"{self.words:>2} word{'s' if self.words > 1 else ' '}/request, {search}"

    def body(self) -> bytes:
        text = WORD if self.words == 1 else list(WORDS[:self.words])
        return json.dumps({"text": text, "beam_width": self.beam_width, "num_candidates": self.beam_width}).encode()


SCENARIOS = tuple(Scenario(words, beam) for words in (1, len(WORDS)) for beam in BEAMS)


@dataclass
class G2PRuns:
    closed: dict[tuple[str, Scenario], list[LoadResult]] = field(default_factory=dict)
    unloaded: dict[tuple[str, Scenario], list[LoadResult]] = field(default_factory=dict)


def measure_g2p(archive: Path, options: G2POptions, progress: Callable[[str], None]) -> G2PRuns:
    info = read_mar(archive)
    runs = G2PRuns()
    for number in range(1, options.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="bench-g2p-") as scratch:
            root = Path(scratch)
            progress(f"round {number}/{options.rounds}: TorchServe ...")
            ready = {info.name: info.settings["maxWorkers"]}
            with bench_server([archive], root / "torchserve", load=[info.mar_name], ready=ready) as server:
                _measure(runs, ENGINES[0], server.url(info.name), server.token, options, progress)
            store = root / "kserve-store"
            store.mkdir()
            place(archive, store / archive.name)
            progress(f"round {number}/{options.rounds}: KServe runtime ...")
            with KServeRuntimeProcess(store, root / "kserve") as runtime:
                runtime.wait_ready()
                _measure(runs, ENGINES[1], f"{runtime.url()}/predictions/{info.name}", runtime.token(), options, progress)
    return runs


def _measure(runs: G2PRuns, engine: str, url: str, token: str, options: G2POptions, progress: Callable[[str], None]) -> None:
    for scenario in SCENARIOS:
        body = scenario.body()
        run_wrk(url, body, "application/json", token, connections=options.connections, seconds=options.warmup)
        closed = run_wrk(url, body, "application/json", token, connections=options.connections, seconds=options.seconds)
        unloaded = sequential(url, body, "application/json", token, count=options.unloaded_requests)
        runs.closed.setdefault((engine, scenario), []).append(closed)
        runs.unloaded.setdefault((engine, scenario), []).append(unloaded)
        progress(f"  {engine}, {scenario.label}: {closed.summary()}; unloaded {unloaded.summary(with_rate=False)}")


def render_g2p(archive: Path, options: G2POptions, runs: G2PRuns) -> str:
    info = read_mar(archive)
    settings = info.settings
    lines = [f"Sequence generation speed: {archive.name} (workers {settings['maxWorkers']}, batch size {settings['batchSize']}, "
             f"max batch delay {settings['maxBatchDelay']} ms)",
             f"  closed loop: wrk, {options.connections} connections, {options.seconds:.0f} s after {options.warmup:.0f} s warm-up; "
             f"unloaded: {options.unloaded_requests} sequential requests; median of {options.rounds} round(s); "
             f"one word: {WORD!r}, {len(WORDS)} words: held-out and heteronym words",
             f"  {machine()}", "",
             f"  {'engine':<15} {'scenario':<30} {'words/s':>9} {'requests/s':>11} {'p50':>8} {'p99':>8} "
             f"{'unloaded p50':>13} {'failed':>7}"]
    for engine in ENGINES:
        for scenario in SCENARIOS:
            closed, unloaded = runs.closed[(engine, scenario)], runs.unloaded[(engine, scenario)]
            rate = statistics.median(r.throughput for r in closed)
            lines.append(f"  {engine:<15} {scenario.label:<30} {rate * scenario.words:>9.0f} {rate:>11.1f} "
                         f"{statistics.median(r.p50_ms for r in closed):>5.0f} ms {statistics.median(r.p99_ms for r in closed):>5.0f} ms "
                         f"{statistics.median(r.p50_ms for r in unloaded):>10.1f} ms {sum(r.failed for r in closed + unloaded):>7}")
    return "\n".join(lines)
