"""The typed boundary between an engine and the core: what comes in, what goes out.

An engine (TorchServe through ``engines/torchserve``, the KServe runtime through ``engines/kserve``) turns
its batch into ``Request`` values (typed fields: ``payload.Payload``) and hands them to ``BatchCore.answer``
(``batch.py``) with the name it serves the archive under and a ``Metrics`` sink; it gets one ``Response``
per request back, each with its own status. Nothing here, and nothing in the tasks, knows which engine
runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .payload import Payload

__all__ = ["NO_METRICS", "Metrics", "Request", "Response", "Served"]


@dataclass(frozen=True)
class Request:
    """One request: its payload (fields and their content types), the engine's id for it, and its HTTP
    headers (names lower-cased) as far as the engine passes them."""

    payload: Payload
    request_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    """One answer: the body the engine sends (JSON-able), its HTTP status and reason phrase, and its
    content type (every answer, refusals included, is JSON)."""

    body: Any
    status: int = 200
    phrase: str = "OK"
    content_type: str = "application/json"

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclass(frozen=True)
class Served:
    """What the engine serves the archive as (KServe v2 answers name it)."""

    name: str
    version: str


class Metrics(Protocol):
    """Where handlers count events (e.g. ``GuardHits``); the engine maps them to its own metrics."""

    def count(self, name: str, dimensions: Mapping[str, str]) -> None: ...


class _NoMetrics:
    def count(self, name: str, dimensions: Mapping[str, str]) -> None:
        return None


NO_METRICS: Metrics = _NoMetrics()
