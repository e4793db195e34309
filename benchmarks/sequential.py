"""Unloaded latency: one request at a time on one keep-alive connection, after a short warm-up."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from markit.ops.load.cpu import cores_used
from markit.ops.load.openloop import Poster
from markit.ops.load.stats import LoadResult, is_ok

__all__ = ["sequential"]


def sequential(url: str, body: bytes, content_type: str, token: str | None, *, count: int, warmup: int = 2,
               timeout: float = 120.0) -> LoadResult:
    """``count`` requests, each sent when the previous answer arrived; latencies of the 2xx ones."""
    poster = Poster(url, body, content_type, token, timeout)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    window = [0.0]  # seconds the measured requests took, warm-up excluded

    async def run() -> None:
        try:
            for _ in range(warmup):
                await poster.send()
            first = time.perf_counter()
            for _ in range(count):
                started = time.perf_counter()
                status = await poster.send()
                statuses[status] += 1
                if is_ok(status):
                    latencies.append(1000 * (time.perf_counter() - started))
            window[0] = time.perf_counter() - first
        finally:
            poster.close()

    _, client_cpu = cores_used(lambda: asyncio.run(run()))
    return LoadResult.from_latencies("sequential, one request at a time", window[0], latencies, statuses, client_cpu)
