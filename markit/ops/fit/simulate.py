"""A setting's latency under an open loop, by replaying the engine's batching rule request by request.

The queueing model. Requests arrive at a fixed rate (as the confirmation's open loop sends them: request ``i`` at
``i / rate``). A batch of ``k`` requests, started while ``n`` batches run (itself included), takes

    t(k) x crowding(n) x max(1, (n x threads + rate x engine cpu per request) / cores) x jitter + handoff

seconds: the fitted line, slowed by the measured cost of processes side by side, stretched when its threads, the
others' and the engine's own share of CPU (``Engine.cpu``: per request and per batch) want more cores than there are, times a
draw from the measured spread of batch times around their median, plus the worker's time per batch outside the
handler (``model.Engine``). Each request's latency is the time from its arrival to its batch's end, plus
``overhead_latency`` (what the engine adds to every answer unloaded). So

    p99 ~ wait for a batch to fill (up to the delay) + wait for a worker (queueing) + t(batch) + overhead

where the first two come from replaying the rule, not from a formula:

- TorchServe (``ts.wlm.Model.pollBatch``): one worker at a time holds the model's lock; it takes the first queued
  request (waiting as long as it takes), then more until the batch is full or ``max_batch_delay`` has passed since
  that first one; then it lets go of the lock and runs the batch, and the next idle worker takes the lock.
- the KServe runtime (``markit.engines.kserve.batching``): when a slot is free and requests wait, they go at once
  (up to the batch size) if no other batch runs; else they wait until the batch is full or the oldest has waited
  ``max_batch_delay``.

Bursty traffic (arrivals closer than a fixed rate's) queues more than this predicts: the model answers for the
open loop the confirmation measures with, which is also what the sweep's tail check uses.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..load.stats import percentile
from .setting import Setting

__all__ = ["BATCHING", "Service", "Simulated", "jittered", "simulate"]

BATCHING = ("torchserve", "kserve")
SKIPPED = 0.1  # the first tenth of the requests warm the simulated server up and are not counted

Service = Callable[[int, int], float]  # (batch size, batches running including this one) -> seconds


@dataclass(frozen=True)
class Simulated:
    """Latencies in seconds at ``rate`` requests/s; ``mean_batch``: the requests per batch formed."""

    rate: float
    p50: float
    p99: float
    mean_batch: float


class _Server:
    """The workers and the queue; ``batching`` says who takes which request when."""

    def __init__(self, setting: Setting, service: Service, batching: str) -> None:
        if batching not in BATCHING:
            raise ValueError(f"batching must be one of {', '.join(BATCHING)}, got {batching!r}")
        self.setting, self.service, self.batching = setting, service, batching
        self.queue: deque[float] = deque()
        self.running: list[tuple[float, int, tuple[float, ...]]] = []  # heap of (end, worker, arrival times)
        self.idle: deque[int] = deque(range(setting.workers))  # TorchServe: in the order they will take the lock
        self.collecting: list[float] = []  # TorchServe: the lock holder's batch so far
        self.holder: int | None = None
        self.deadline: float | None = None  # when the batch being formed must go
        self.done: list[tuple[float, float]] = []  # (arrival, end) per request
        self.batches = 0

    def arrive(self, now: float) -> None:
        self.queue.append(now)
        self._dispatch(now)

    def next_event(self) -> float | None:
        times = [self.running[0][0]] if self.running else []
        if self.deadline is not None:
            times.append(self.deadline)
        return min(times, default=None)

    def advance(self, now: float) -> None:
        """Everything due at ``now``: batches ending, then a batch whose delay ran out."""
        while self.running and self.running[0][0] <= now:
            end, worker, arrivals = heapq.heappop(self.running)
            self.done += [(arrival, end) for arrival in arrivals]
            self.idle.append(worker)
        self._dispatch(now)

    def _start(self, now: float, worker: int, arrivals: tuple[float, ...]) -> None:
        seconds = self.service(len(arrivals), len(self.running) + 1)
        heapq.heappush(self.running, (now + seconds, worker, arrivals))
        self.batches += 1

    def _dispatch(self, now: float) -> None:
        if self.batching == "torchserve":
            self._torchserve(now)
        else:
            self._kserve(now)

    def _torchserve(self, now: float) -> None:
        size, delay = self.setting.batch_size, self.setting.max_batch_delay / 1000
        while True:
            if self.holder is None:
                if not self.idle:
                    return
                self.holder, self.collecting, self.deadline = self.idle.popleft(), [], None
            while self.queue and len(self.collecting) < size:
                self.collecting.append(self.queue.popleft())
                if self.deadline is None:
                    self.deadline = now + delay
            full = len(self.collecting) == size
            if not self.collecting or not (full or (self.deadline is not None and now >= self.deadline)):
                return
            self._start(now, self.holder, tuple(self.collecting))
            self.holder, self.collecting, self.deadline = None, [], None

    def _kserve(self, now: float) -> None:
        size, delay = self.setting.batch_size, self.setting.max_batch_delay / 1000
        while self.idle and self.queue:
            if self.deadline is None and self.running and len(self.queue) < size:
                self.deadline = self.queue[0] + delay
            if self.deadline is not None and len(self.queue) < size and now < self.deadline:
                return
            batch = tuple(self.queue.popleft() for _ in range(min(size, len(self.queue))))
            self.deadline = None
            self._start(now, self.idle.popleft(), batch)


def simulate(setting: Setting, service: Service, *, rate: float, requests: int, batching: str,
             overhead_latency: float = 0.0) -> Simulated:
    """``requests`` arriving at ``rate`` per second on ``setting`` under the engine's ``batching`` rule."""
    if rate <= 0 or requests < 10:
        raise ValueError(f"need a positive rate and at least 10 requests, got {rate} and {requests}")
    server = _Server(setting, service, batching)
    arrivals = [index / rate for index in range(requests)]
    for arrival in arrivals:
        while (due := server.next_event()) is not None and due <= arrival:
            server.advance(due)
        server.arrive(arrival)
    while (due := server.next_event()) is not None:
        server.advance(due)
    counted = [end - arrival + overhead_latency for arrival, end in server.done if arrival >= arrivals[int(SKIPPED * requests)]]
    return Simulated(rate, percentile(counted, 50), percentile(counted, 99), requests / max(server.batches, 1))


def jittered(base: Callable[[int, int], float], jitter: tuple[float, ...], seed: int = 0) -> Service:
    """``base`` times a draw from ``jitter`` (seeded: the same setting always simulates the same)."""
    draw = random.Random(seed).choice
    return lambda size, running: base(size, running) * (draw(jitter) if jitter else 1.0)
