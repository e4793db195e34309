"""When and how long the client waits before sending an idempotent call again.

TorchServe answers 503 when a model's queue is full or it has no worker, and 507 or 500 with the
message ``Worker died.`` when the worker holding a request died (a crash, an out-of-memory kill;
``python -m benchmarks fault`` saw both); a connection can drop while the frontend restarts. A 500
from the handler itself (a bug, a model that fails on this input) would fail again: not retried.
An inference call changes nothing on the server, so sending it again is safe: the client retries
such calls with full-jitter exponential backoff, inside a budget of attempts and seconds, and waits
at least what a ``Retry-After`` header asks. Management calls that change the server (register,
scale, unregister, set-default) are never retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    budget: float = 20.0  # seconds after the first try after which no retry starts
    base_delay: float = 0.1  # seconds; the n-th retry waits up to base_delay * 2**n, at most max_delay
    max_delay: float = 3.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({503, 507}))
    worker_died: str = "Worker died."  # TorchServe's message when the worker holding the request died

    def retryable(self, status: int, body: Any) -> bool:
        """Whether another try may get a different answer."""
        died = status == 500 and isinstance(body, dict) and body.get("message") == self.worker_died
        return status in self.statuses or died

    def delay(self, retry: int, retry_after: str | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1, 2, ...): full jitter, or Retry-After if longer."""
        wait = rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** retry))
        asked = _seconds(retry_after)
        return max(wait, asked) if asked is not None else wait


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is not used by TorchServe and is ignored)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
