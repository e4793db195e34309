"""TorchServe's handler over the engine-free core: the thin adapter.

A TorchServe worker calls ``handle(data, context)`` per batch. The adapter reads what only TorchServe
knows (each request's fields and their content types from ``context``, request ids, the registered model
name, the management API's describe call, its own ``kserve``/``kservev2`` service envelopes
(``envelope.py``), its metrics), hands ``exchange.Request`` values to the batch core (``BatchCore.answer``),
and writes each response's status back into ``context``. TorchServe's Python package is imported only for its metric types, and only when
a handler counts something.

TorchServe's worker reads each message in pieces the size of what is left, so a batch bringing megabytes
grows the C heap, and glibc keeps it once freed (measured: a text worker stayed ~50 MB larger after five
10 MB texts). After such a batch the next ``handle`` first gives the free heap back (``malloc_trim``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from ...core.batch import BatchCore, Failed
from ...core.budgets import input_bytes
from ...core.exchange import NO_METRICS, Metrics, Request, Response, Served
from ...core.handler import Decoded
from ...core.payload import Payload
from . import envelope as envelopes

__all__ = ["TRIM_AFTER_BYTES", "TorchServeAdapter", "payload_of"]

TRIM_AFTER_BYTES = 4 * 1024 * 1024  # a batch that brought this many bytes of input: trim the heap after it


class TorchServeAdapter:
    """``handle(data, context)`` as TorchServe calls it, answered by ``core`` (the archive's batch core)."""

    def __init__(self, core: BatchCore) -> None:
        self.core = core
        self._trim_pending = False

    def handle(self, data: list[dict], context: Any) -> list[Any]:
        """One TorchServe batch -> one body per request; statuses go into ``context``.

        Under TorchServe's own ``kserve``/``kservev2`` service envelope, ``data`` holds the instances (or
        tensors) of the one request the envelope unwrapped, and the envelope builds the response."""
        if self._trim_pending:  # the last batch's large input is free now that TorchServe has sent its answers
            _trim_heap()
            self._trim_pending = False
        if _is_describe(data, context):
            return [self.core.describe()]
        metrics = _Metrics(getattr(context, "metrics", None))
        envelope = envelopes.detect(data, context)
        if envelope:
            response = self._enveloped(envelope, data, metrics)
            _set_status(context, 0, response)
            return response.body
        requests = [Request(payload_of(item, context, index), _request_id(context, index), _headers(context, index))
                    for index, item in enumerate(data)]
        self._trim_pending = sum(_input_bytes(item, request.headers) for item, request in zip(data, requests, strict=True)) \
            >= TRIM_AFTER_BYTES
        responses = self.core.answer(requests, self._served(context), metrics)
        for index, response in enumerate(responses):
            _set_status(context, index, response)
        return [_wire(response.body) for response in responses]

    def decode_request(self, item: Mapping[str, Any], context: Any, index: int) -> Decoded:
        """Request ``index`` of a TorchServe batch (a plain one) -> model-ready input (raises on bad input)."""
        return self.core.task.decode(payload_of(item, context, index), NO_METRICS)

    def _enveloped(self, envelope: str, rows: Any, metrics: Metrics) -> Response:
        """The one request a service envelope unwrapped into ``rows``: the item the envelope wraps, and its status."""
        result = self.core.answer_read(partial(envelopes.read, envelope, rows), metrics)
        if isinstance(result, Failed):
            return Response(envelopes.failure(envelope, result.body), result.status, result.phrase)
        return Response(envelopes.result(envelope, result))

    def _served(self, context: Any) -> Served:
        name = getattr(context, "model_name", None)
        own = self.core.served()
        return Served(name, own.version) if isinstance(name, str) and name else own


def payload_of(item: Mapping[str, Any], context: Any, index: int) -> Payload:
    """TorchServe's request row (field name -> value) with each field's content type from its header."""
    types = {}
    for name in item:
        header = context.get_request_header(index, name)
        types[name] = (header.get("content-type") or "") if isinstance(header, dict) else ""
    return Payload(fields=dict(item), content_types=types)


def _input_bytes(item: Mapping[str, Any], headers: Mapping[str, str]) -> int:
    """A request's size: its raw fields, or its ``Content-Length`` when TorchServe parsed its JSON already."""
    raw = input_bytes(item)
    declared = headers.get("content-length", "")
    return max(raw, int(declared)) if declared.isdigit() else raw


def _wire(body: Any) -> Any:
    """A JSON body as compact UTF-8 bytes. TorchServe would send it indented, through the standard library's
    pure-Python encoder (its ``indent``): measured at ~5 % of a small detector's worker time. Anything else
    (bytes, text, or a body JSON cannot encode) goes as it is, for TorchServe to send or refuse."""
    if not isinstance(body, (dict, list)):
        return body
    try:
        return json.dumps(body, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError):
        return body


def _trim_heap() -> None:
    """Return the C heap's free memory to the system (glibc's ``malloc_trim``; nothing where there is none)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _request_id(context: Any, index: int) -> str | None:
    try:
        return context.get_request_id(index)
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


def _headers(context: Any, index: int) -> dict[str, str]:
    """The request's HTTP headers; TorchServe keeps them beside one entry per field (a dict), left out here."""
    try:
        properties = context.get_all_request_header(index)
    except (AttributeError, IndexError, KeyError, TypeError):
        return {}
    return {str(name).lower(): value for name, value in (properties or {}).items() if isinstance(value, str)}


def _set_status(context: Any, index: int, response: Response) -> None:
    """The response's status (when not 200) and content type, as TorchServe sends them."""
    if not response.ok:
        context.set_response_status(response.status, response.phrase, index)
    context.set_response_content_type(index, response.content_type)


class _Metrics:
    """``exchange.Metrics`` on TorchServe's metrics (counters with dimensions)."""

    def __init__(self, metrics: Any) -> None:
        self._metrics = metrics

    def count(self, name: str, dimensions: Mapping[str, str]) -> None:
        if self._metrics is None:
            return
        from ts.metrics.dimension import Dimension  # TorchServe's own metric types, present in every worker

        self._metrics.add_counter(name, 1, None, [Dimension(key, value) for key, value in dimensions.items()])


def _is_describe(data: list[dict], context: Any) -> bool:
    """TorchServe's management describe call: one request without fields, with the header ``describe: True``.

    A client can send that header to the inference API too, and nothing TorchServe passes tells the two
    apart for sure (docs/serving.md), so describe shows only what is public. A request with a body is an
    inference request whatever its headers say, and is answered as one with the rest of its batch."""
    return isinstance(data, list) and len(data) == 1 and not data[0] and str(context.get_request_header(0, "describe")) == "True"
