"""Dynamic batching for one archive, in process: what TorchServe's frontend does for its workers.

Requests from every route and protocol (REST, gRPC) queue per model. Up to ``slots`` batches run at once
(the archive's ``workers``: TorchServe starts that many worker processes; here each batch runs in a thread of
one process, with the archive's ``torch_threads``). When a slot is free, the queued requests (at most
``max_batch``) go as one batch to ``answer``. A partial batch waits up to ``max_delay`` for more only while
another batch is running: an idle machine answers at once.

``answer`` is the archive's ``BatchCore.answer``: one response per request, each with its own status,
and it never raises for a request. Should it raise anyway, every request of that batch gets ``failed(err)``
and the next batch runs as usual.

A batch still running ``timeout`` seconds after it started (the archive's ``responseTimeout``) has its
requests answered ``timed_out(seconds)`` (a 504) and its slot freed: the next batch does not wait behind it.
Where TorchServe kills a stuck worker process, a thread cannot be killed, so the computation is abandoned:
it runs on in its thread, its answers are discarded when it ends, and both are logged. Each batch therefore
runs in a thread of its own that is a *daemon* thread, not in a ``ThreadPoolExecutor``: an executor's
threads are joined at interpreter exit (and ``shutdown(wait=True)`` waits for them), so one stuck
computation kept the process alive after SIGTERM; a daemon thread never delays the exit. The price is a
thread per batch (tens of microseconds) and a thread per abandoned computation until it ends (``stuck``).
Once a model has as many abandoned as it has slots (``exhausted``), the server reports itself not live, so
that the orchestrator restarts the process, as TorchServe restarts a worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batcher", "Limits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """``max_batch`` requests per batch, ``max_delay`` seconds a partial batch may wait, ``slots`` batches at once,
    ``timeout`` seconds a batch may run before its requests get 504 (None: no limit)."""

    max_batch: int
    max_delay: float
    slots: int
    timeout: float | None = None


@dataclass
class _Queued:
    request: Any
    future: asyncio.Future
    arrived: float


@dataclass
class _Running:
    """One batch in its thread: its requests, when it started, whether it ran past the timeout."""

    batch: list[_Queued]
    started: float = field(default_factory=time.monotonic)
    expired: bool = False


class Batcher:
    """``await batcher.submit(request)`` -> its response; ``run()`` is the consumer, one task per model."""

    def __init__(self, answer: Callable[[list[Any]], Sequence[Any]], limits: Limits, failed: Callable[[BaseException], Any],
                 timed_out: Callable[[float], Any] | None = None, on_batch: Callable[[int], None] | None = None,
                 name: str = "model") -> None:
        self._answer, self.limits, self._failed, self.name = answer, limits, failed, name
        self._timed_out = timed_out or (lambda seconds: failed(TimeoutError(f"no answer within {seconds:g} s")))
        self._on_batch = on_batch or (lambda size: None)
        self._queue: deque[_Queued] = deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(limits.slots)
        self._running = 0
        self.stuck = 0  # computations that ran past the timeout and have not ended yet

    @property
    def computing(self) -> int:
        """Computations not ended: the batches running in their slots and the abandoned ones."""
        return self._running + self.stuck

    @property
    def exhausted(self) -> bool:
        """Whether as many computations are abandoned (past the timeout, still running) as there are slots."""
        return self.stuck >= self.limits.slots

    async def submit(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        queued = _Queued(request, loop.create_future(), loop.time())
        self._queue.append(queued)
        self._arrived.set()
        return await queued.future

    async def run(self) -> None:
        """Form and dispatch batches until cancelled."""
        while True:
            await self._slots.acquire()
            await self._wait_for_requests()
            if self._running and len(self._queue) < self.limits.max_batch:
                await self._fill(self._queue[0].arrived + self.limits.max_delay)
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), self.limits.max_batch))]
            batch = [queued for queued in batch if not queued.future.done()]  # a client that went away
            if not batch:
                self._slots.release()
                continue
            self._running += 1
            self._on_batch(len(batch))
            self._dispatch(_Running(batch))

    async def _wait_for_requests(self) -> None:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()

    async def _fill(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while len(self._queue) < self.limits.max_batch and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _dispatch(self, running: _Running) -> None:
        """Start the batch in its own daemon thread, and its deadline."""
        loop = asyncio.get_running_loop()
        job = loop.create_future()
        requests = [queued.request for queued in running.batch]
        thread = threading.Thread(target=_work, args=(loop, job, self._answer, requests), name=f"batch-{self.name}", daemon=True)
        thread.start()
        timer = None if self.limits.timeout is None else loop.call_later(self.limits.timeout, self._expire, running)
        job.add_done_callback(lambda done: self._finish(running, done, timer))

    def _expire(self, running: _Running) -> None:
        """The batch ran past the timeout: 504 to its requests, its slot freed, the computation left to its thread."""
        running.expired = True
        self.stuck += 1
        log.error("model %s: a batch of %d requests ran past its response timeout of %g s; its requests get 504 and its "
                  "slot is freed, the computation is abandoned to its thread (%d abandoned and still running)",
                  self.name, len(running.batch), self.limits.timeout, self.stuck)
        self._release()
        self._deliver(running.batch, [self._timed_out(self.limits.timeout)] * len(running.batch))

    def _finish(self, running: _Running, done: asyncio.Future, timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()
        if running.expired:
            self.stuck -= 1
            log.warning("model %s: an abandoned batch of %d requests ended after %.1f s; its answers were discarded",
                        self.name, len(running.batch), time.monotonic() - running.started)
            return
        self._release()
        error = done.exception()
        if error is not None:
            log.error("a batch of %d failed outside the handler's guards: %r", len(running.batch), error)
            responses: Sequence[Any] = [self._failed(error)] * len(running.batch)
        else:
            responses = done.result()
        self._deliver(running.batch, responses)

    def _release(self) -> None:
        self._running -= 1
        self._slots.release()

    @staticmethod
    def _deliver(batch: list[_Queued], responses: Sequence[Any]) -> None:
        for queued, response in zip(batch, responses, strict=True):
            if not queued.future.done():
                queued.future.set_result(response)


def _work(loop: asyncio.AbstractEventLoop, job: asyncio.Future, answer: Callable[[list[Any]], Sequence[Any]],
          requests: list[Any]) -> None:
    """A batch's thread: ``answer(requests)``, its result or error handed to ``job`` on the event loop."""
    try:
        result, error = answer(requests), None
    except BaseException as err:  # noqa: BLE001 -- handed to the loop, which fails the batch's requests with it
        result, error = None, err
    try:
        loop.call_soon_threadsafe(_settle, job, result, error)
    except RuntimeError:  # the loop closed while this batch ran (the server stopped): nobody waits for it
        log.warning("a batch ended after the server stopped; its answers were discarded")


def _settle(job: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if job.done():
        return
    if error is not None:
        job.set_exception(error)
    else:
        job.set_result(result)
