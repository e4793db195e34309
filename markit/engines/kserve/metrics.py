"""Prometheus metrics of the KServe runtime, beside kserve's own (both on ``GET /metrics``).

    markit_requests_total{model, protocol, status}       every answered request, refusals included
    markit_request_seconds{model, protocol}              time from arrival to answer (queue + batch)
    markit_batch_size{model}                             requests per batch the handler ran
    markit_handler_events_total{model, event, detail}    what handlers count (e.g. GuardHits), as under TorchServe

Each server builds its own registry; nothing is registered at import. Served by several processes
(``processes.py``), every process writes its values to prometheus_client's multiprocess directory and
``/metrics`` in any of them adds all up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.requests import Request
from starlette.responses import Response

from .processes import METRICS_DIR_ENV

__all__ = ["HandlerEvents", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("markit_requests", "Requests answered, by model, protocol and HTTP status",
                                ["model", "protocol", "status"], registry=self.registry)
        self.latency = Histogram("markit_request_seconds", "Seconds from a request's arrival to its answer",
                                 ["model", "protocol"], registry=self.registry)
        self.batches = Histogram("markit_batch_size", "Requests per batch run by the handler", ["model"],
                                 buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)
        self.events = Counter("markit_handler_events", "Events the task handlers count (guards, warnings)",
                              ["model", "event", "detail"], registry=self.registry)

    def answered(self, model: str, protocol: str, status: int, seconds: float) -> None:
        self.requests.labels(model, protocol, str(status)).inc()
        self.latency.labels(model, protocol).observe(seconds)

    def batch(self, model: str, size: int) -> None:
        self.batches.labels(model).observe(size)

    def handler_events(self, model: str) -> HandlerEvents:
        return HandlerEvents(self, model)

    async def endpoint(self, request: Request) -> Response:
        if os.environ.get(METRICS_DIR_ENV):  # one of several processes: every process's values, from their files
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), media_type=CONTENT_TYPE)
        return Response(generate_latest(REGISTRY) + generate_latest(self.registry), media_type=CONTENT_TYPE)


class HandlerEvents:
    """``exchange.Metrics`` for one model: the handler's counts as ``markit_handler_events_total``."""

    def __init__(self, metrics: ServerMetrics, model: str) -> None:
        self._metrics, self._model = metrics, model

    def count(self, name: str, dimensions: Mapping[str, str]) -> None:
        detail = ",".join(f"{key}={value}" for key, value in sorted(dimensions.items()))
        self._metrics.events.labels(self._model, name, detail).inc()
