"""From measured costs to the setting to ship: each candidate's capacity, its p99 at a load, and the choice.

Capacity (requests/s under a closed loop, batches full). With ``w`` workers of ``T`` torch threads, batches of
``b`` and the handler's line ``t(b)``, slowed by ``crowding(w)`` when ``w`` workers run side by side, a worker
turns a batch around in ``t'(b) = t(b) x crowding(w) + handoff``, and

    capacity = min(w x b / t'(b),  cores / (T x t(b) x cpu_crowding(w) / b + request_cpu + batch_cpu / b))

the workers' own limit, or the cores' when the workers' threads and what the engine spends beside the handler need
all of them: per request (``Engine.request_cpu``: HTTP, TorchServe's Java frontend, or the KServe runtime's event
loop) and per batch (``Engine.batch_cpu``: TorchServe's socket protocol to its Python worker, which carries a batch
as one message, and the worker's own loop, metrics and logging around the handler). ``handoff`` is the time a
worker spends per batch outside the handler and not computing (taking the batch, answering it). In the cores'
limit crowding counts only where it costs CPU (``Costs.cpu_crowding``): worker processes stalling on memory do,
threads waiting for the GIL do not. A closed
loop of ``connections`` requests in flight fills ``w`` batches of ``b`` only if ``w x b <= connections``: larger
batches are not candidates (the sweep prunes batch sizes above the connections likewise).

The p99 of each candidate at ``load`` x its capacity comes from ``simulate``, times the engine's ``tail``. The choice: the highest capacity
whose predicted p99 meets the target; among those within ``TIE`` of it, the lowest predicted p99 (the sweep's
rule). Candidates are simulated in order of capacity, and only until the choice is settled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ...errors import MarkitError
from .costs import Costs
from .setting import Setting
from .simulate import Service, Simulated, jittered, simulate

__all__ = ["ENGINES", "TIE", "Engine", "NoSettingMeets", "Prediction", "candidates", "choose", "predict_capacity",
           "predict_tail", "service_time"]

TIE = 0.03  # capacities within 3 % of the best are a tie (run-to-run noise is about that)
SIMULATED_SECONDS = 20.0  # of simulated open loop per candidate, within the bounds below
SIMULATED_REQUESTS = (2000, 6000)


@dataclass(frozen=True)
class Engine:
    """What an engine adds to the handler's own cost, in seconds: CPU per request on any core (``request_cpu``), CPU
    per batch (``batch_cpu``), a worker's time per batch outside the handler (``handoff``), latency per request
    (``latency``); its batching rule
    (``simulate.BATCHING``); and how much higher a served p99 runs than the simulated one (``tail``: the scheduling
    noise of the cores the workers share with the engine and the load generator, which the simulation leaves out)."""

    name: str
    request_cpu: float
    handoff: float
    latency: float
    batching: str
    tail: float = 1.0
    batch_cpu: float = 0.0

    def cpu(self, batch_size: int) -> float:
        """The engine's CPU per request beside the handler's, at ``batch_size`` requests per batch."""
        return self.request_cpu + self.batch_cpu / batch_size


# From the recorded runs on this project's 2-core machine (quiet, EfficientNet-Lite0, 2 workers x 1 thread, the
# handler 7.3 ms per image in process). TorchServe: served at batch 1, 191.2/s with the server on 1.89 cores
# (docs/results/capacity-image.md: 2.35 ms of CPU per request beyond the handler's); at batch 2, 220.6/s on 1.92 cores
# (docs/results/compare.md: 1.4 ms). Most of it goes per batch: 2.0 ms per batch and 0.3 ms per request fit both.
# One worker 66.4/s where two reached 122.8 (docs/results/sweep.md: 0.3 ms per batch of a worker's time beside the
# handler's); unloaded in 11 ms where the handler takes 7.6 ms and the delay 1 ms; an open-loop p99 of 18-26 ms at
# 70 % load where the simulation gives 13-18 (1.5x; the MiniLM archive's first trial here: 41 ms measured, 27
# simulated). The KServe runtime, one process: 220.9/s at batch 2 on 1.76 cores (docs/results/compare.md: 0.6 ms per
# request beyond the handler's) and 3 ms less unloaded than TorchServe; its tail is taken as TorchServe's, not
# measured. ``markit capacity`` prints what its trial measured on this machine; ``--overhead-ms`` sets
# ``request_cpu`` (and the per-batch part to none).
ENGINES = {
    "torchserve": Engine("torchserve", request_cpu=0.0003, handoff=0.0003, latency=0.0025, batching="torchserve", tail=1.5,
                         batch_cpu=0.0020),
    "kserve": Engine("kserve", request_cpu=0.0009, handoff=0.0001, latency=0.0015, batching="kserve", tail=1.5),
}


@dataclass(frozen=True)
class Prediction:
    """A candidate: its capacity (requests/s) and what limits it (``workers`` or ``cores``); once simulated, its
    latencies at ``load`` x capacity."""

    setting: Setting
    capacity: float
    bound: str
    tail: Simulated | None = None

    @property
    def p99(self) -> float:
        return math.inf if self.tail is None else self.tail.p99


class NoSettingMeets(MarkitError):
    """No candidate's predicted p99 meets the target (exit 1): the message names the best one and what to relax."""


def candidates(costs: Costs, *, cores: int, connections: int, delays: Iterable[int]) -> list[Setting]:
    """Every setting worth predicting: workers x threads <= ``cores``, threads measured, batch sizes up to the
    largest measured and to ``connections`` / workers, every delay but for batch 1 (the smallest only)."""
    delays = sorted(set(delays))
    settings = []
    for threads in costs.threads:
        for workers in range(1, cores // threads + 1):
            for batch in range(1, min(costs.largest_batch(threads), connections // workers) + 1):
                for delay in delays if batch > 1 else delays[:1]:
                    settings.append(Setting(threads=threads, batch_size=batch, max_batch_delay=delay, workers=workers))
    return settings


def predict_capacity(setting: Setting, costs: Costs, engine: Engine, cores: int) -> Prediction:
    """The closed-loop capacity of ``setting`` (see the module's formula)."""
    alone = costs.line(setting.threads).at(setting.batch_size)
    by_workers = setting.workers * setting.batch_size / (alone * costs.crowding(setting.workers) + engine.handoff)
    cpu = setting.threads * alone * costs.cpu_crowding(setting.workers) / setting.batch_size
    by_cores = cores / (cpu + engine.cpu(setting.batch_size))
    return Prediction(setting, min(by_workers, by_cores), "workers" if by_workers <= by_cores else "cores")


def service_time(setting: Setting, costs: Costs, engine: Engine, cores: int, rate: float, seed: int = 0) -> Service:
    """The simulation's batch time for ``setting`` at ``rate`` requests/s (``simulate``'s formula)."""
    line, frontend = costs.line(setting.threads), rate * engine.cpu(setting.batch_size)

    def base(size: int, running: int) -> float:
        stretch = max(1.0, (running * setting.threads + frontend) / cores)
        return line.at(size) * costs.crowding(running) * stretch

    service = jittered(base, costs.jitter(setting.threads), seed)
    return lambda size, running: service(size, running) + engine.handoff


def predict_tail(prediction: Prediction, costs: Costs, engine: Engine, cores: int, load: float) -> Prediction:
    """``prediction`` with its simulated latencies at ``load`` x its capacity, the p99 times ``engine.tail``."""
    rate = load * prediction.capacity
    requests = round(min(max(rate * SIMULATED_SECONDS, SIMULATED_REQUESTS[0]), SIMULATED_REQUESTS[1]))
    service = service_time(prediction.setting, costs, engine, cores, rate)
    tail = simulate(prediction.setting, service, rate=rate, requests=requests, batching=engine.batching,
                    overhead_latency=engine.latency)
    return replace(prediction, tail=replace(tail, p99=tail.p99 * engine.tail))


def choose(predictions: Sequence[Prediction], p99: float, tail: Callable[[Prediction], Prediction],
           tie: float = TIE) -> tuple[Prediction, list[Prediction]]:
    """The chosen candidate and every candidate simulated on the way (by capacity, highest first): the highest
    capacity whose ``tail(...).p99`` is at most ``p99`` seconds, and within ``tie`` of it the lowest p99.
    ``NoSettingMeets`` when none does (every candidate is simulated then, to name the lowest p99)."""
    considered: list[Prediction] = []
    best: float | None = None
    for prediction in sorted(predictions, key=lambda p: (-p.capacity, p.setting)):
        if best is not None and prediction.capacity < (1 - tie) * best:
            break
        considered.append(tail(prediction))
        if best is None and considered[-1].p99 <= p99:
            best = prediction.capacity
    meeting = [p for p in considered if p.p99 <= p99]
    if not meeting:
        lowest = min(considered, key=lambda p: p.p99)
        raise NoSettingMeets(
            f"--p99 {1000 * p99:g}: no setting is predicted to keep its p99 within {1000 * p99:g} ms; the lowest predicted is "
            f"{1000 * lowest.p99:.1f} ms ({lowest.setting.label()}, {lowest.capacity:.1f} requests/s): relax --p99 to at "
            f"least {math.ceil(round(1000 * lowest.p99, 1))}, or predict the p99 at a lighter share of capacity (--load)")
    return min(meeting, key=lambda p: (p.p99, -p.capacity)), considered
