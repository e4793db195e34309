"""Dynamic batching for one archive, in process: what TorchServe's frontend does for its workers.

Requests from every route and protocol (REST, gRPC) queue per model. Up to ``slots`` batches run at once
(the archive's ``workers``: TorchServe starts that many worker processes; here they are threads of one
process, each batch running with the archive's ``torch_threads``). When a slot is free, the queued requests
(at most ``max_batch``) go as one batch to ``answer``, which runs in the executor. A partial batch waits up
to ``max_delay`` for more only while another batch is running: an idle machine answers at once.

``answer`` is the archive's ``TaskHandler.answer``: one response per request, each with its own status,
and it never raises for a request. Should it raise anyway, every request of that batch gets ``failed(err)``
and the next batch runs as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

__all__ = ["Batcher", "Limits"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """``max_batch`` requests per batch, ``max_delay`` seconds a partial batch may wait, ``slots`` batches at once."""

    max_batch: int
    max_delay: float
    slots: int


@dataclass
class _Queued:
    request: Any
    future: asyncio.Future
    arrived: float


class Batcher:
    """``await batcher.submit(request)`` -> its response; ``run()`` is the consumer, one task per model."""

    def __init__(self, answer: Callable[[list[Any]], Sequence[Any]], limits: Limits, executor: Executor | None,
                 failed: Callable[[BaseException], Any], on_batch: Callable[[int], None] | None = None) -> None:
        self._answer, self.limits, self._executor, self._failed = answer, limits, executor, failed
        self._on_batch = on_batch or (lambda size: None)
        self._queue: deque[_Queued] = deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(limits.slots)
        self._running = 0

    async def submit(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        queued = _Queued(request, loop.create_future(), loop.time())
        self._queue.append(queued)
        self._arrived.set()
        return await queued.future

    async def run(self) -> None:
        """Form and dispatch batches until cancelled."""
        loop = asyncio.get_running_loop()
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
            job = loop.run_in_executor(self._executor, self._answer, [queued.request for queued in batch])
            job.add_done_callback(lambda done, batch=batch: self._finish(batch, done))

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

    def _finish(self, batch: list[_Queued], done: asyncio.Future) -> None:
        self._running -= 1
        self._slots.release()
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            log.error("a batch of %d failed outside the handler's guards: %r", len(batch), error)
            responses: Sequence[Any] = [self._failed(error)] * len(batch)
        else:
            responses = done.result()
        for queued, response in zip(batch, responses, strict=True):
            if not queued.future.done():
                queued.future.set_result(response)
