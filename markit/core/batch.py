"""The batch core: one batch of requests through one task, each request isolated from the others.

``BatchCore.answer`` takes the requests of one batch (``exchange.Request``) and returns one
``exchange.Response`` per request, each with its own status. Per batch: each request's protocol and
instances are read on their own (``protocols.routing``: a task's own body, KServe v1 or v2), each
instance is decoded by the task on its own (a bad one gets its own 4xx and never touches the others),
the good ones go through the task's ``forward`` once, and each output row is postprocessed on its own.
``answer`` never raises because of a request, so an engine never fails a whole batch or restarts a
worker for input.

The task (``handler.TaskHandler``) says only what is its own: decode, collate, forward, postprocess, and
its declared inputs, outputs and options. Engines are thin adapters over this class; an adapter that
reads a request's instances its own way (TorchServe's service envelopes) hands them to ``answer_read``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..protocols import routing as protocol
from ..protocols.routing import Inbound, InstanceRules
from .errors import HandlerError, error_body
from .exchange import NO_METRICS, Metrics, Request, Response, Served
from .handler import Decoded, TaskHandler

__all__ = ["BatchCore", "Failed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failed:
    """A request that already has its error: the body and the status it is answered with."""

    body: dict[str, Any]
    status: int
    phrase: str


class BatchCore:
    """The requests of a batch through ``task``: isolation per request, and each answered in its own protocol."""

    def __init__(self, task: TaskHandler, threads: int | None = None) -> None:
        self.task = task
        self.threads = threads  # the torch threads its batches run with (``service.configure_threads``); None: as set

    # -- what the engines read ---------------------------------------------------------------
    def rules(self) -> InstanceRules:
        """How the task's KServe instances look (named tensors, which budget counts them) and its typed outputs."""
        task = self.task
        return InstanceRules(task.budgets, budget=task.instance_budget, named=task.named_instances(),
                             outputs=task.typed_outputs(), inputs=task.declared_inputs())

    def v2_inputs(self) -> list[dict[str, Any]]:
        """The v2 model metadata's inputs: the task's declared required ones (options are request parameters)."""
        return [item.metadata() for item in self.task.declared_inputs() if item.required]

    def v2_outputs(self) -> list[dict[str, Any]]:
        """The v2 model metadata's outputs: the JSON ``answer`` and the task's typed outputs."""
        return [{"name": protocol.OUTPUT_NAME, "datatype": "BYTES", "shape": [-1]},
                *(output.metadata() for output in self.task.typed_outputs())]

    def describe(self) -> dict[str, Any]:
        return self.task.describe()

    def served(self) -> Served:
        return self.task.served()

    # -- the engines' entries ----------------------------------------------------------------
    def answer(self, requests: Sequence[Request], served: Served | None = None, metrics: Metrics = NO_METRICS) -> list[Response]:
        """One batch -> one response per request, in order, each with its own status."""
        served = served or self.served()
        rules = self.rules()
        protocols, inbound = [], []
        for index, request in enumerate(requests):
            read = self._guard([index], self._read, request)
            if isinstance(read, Failed):
                protocols.append(protocol.spoken_when_unreadable(request))
                inbound.append(read)
                continue
            spoken, unpacked, body = read
            protocols.append(spoken)
            inbound.append(self._guard([index], protocol.inbound, unpacked, spoken, rules, body))
        results = self._answer(inbound, metrics)
        refused = sum(isinstance(result, Failed) for result in results)
        log.info("batch of %d requests: %d answered, %d refused", len(results), len(results) - refused, refused)
        return [self._response(spoken, request, parsed, result, served, rules)
                for spoken, request, parsed, result in zip(protocols, requests, inbound, results, strict=True)]

    def answer_read(self, read: Callable[[InstanceRules], Inbound], metrics: Metrics = NO_METRICS) -> list[Any] | Failed:
        """One request whose instances an engine reads itself (``read`` gets the task's rules): its answers, one
        per instance in order, or its ``Failed``."""
        [result] = self._answer([self._guard([0], read, self.rules())], metrics)
        return result

    # -- the batch ---------------------------------------------------------------------------
    def _read(self, request: Request) -> tuple[str, Request, Any]:
        """The request's protocol, once its size is within the budget ``request_bytes``, the request as the
        protocol layer reads it (a binary-tensor request unpacked) and its KServe body (parsed once)."""
        self.task.budgets.check_request(request.payload)
        request = protocol.unpacked(request)
        spoken, body = protocol.read(request)
        return spoken, request, body

    def _decode_all(self, request: Inbound, metrics: Metrics) -> list[Decoded]:
        """Every payload of a request; an error names the KServe instance it concerns."""
        task = self.task
        items = []
        for position, payload in enumerate(request.payloads):
            try:
                items.append(task.decode(payload, metrics))
            except HandlerError as err:
                label = request.label(position)
                if not label:
                    raise
                raise type(err)(f"{label}: {err}") from err
        if task.work_budget is not None and len(items) > 1:  # one payload's work is checked by its task's decode
            task.budgets.check(task.work_budget, sum(item.work for item in items), f"the request's {len(items)} instances together")
        return items

    def _answer(self, requests: list[Inbound | Failed], metrics: Metrics) -> list[list[Any] | Failed]:
        """Per request: its answers (one per payload, in order) or its Failed."""
        results: list[Any] = list(requests)
        jobs: list[tuple[int, Decoded]] = []
        for index, request in enumerate(requests):
            if isinstance(request, Failed):
                continue
            items = self._guard([index], self._decode_all, request, metrics)
            if isinstance(items, Failed):
                results[index] = items
            else:
                results[index] = []
                jobs += [(index, item) for item in items]
        if jobs:
            self._run(jobs, results)
        return results

    def _run(self, jobs: list[tuple[int, Decoded]], results: list[Any]) -> None:
        """One forward over every decoded payload of the batch; each output row postprocessed on its own."""
        outputs = self._guard(sorted({index for index, _ in jobs}), self.task.forward, [item for _, item in jobs])
        if isinstance(outputs, Failed):
            for index, _ in jobs:
                results[index] = outputs
            return
        offset = 0
        for index, item in jobs:
            mine = outputs[offset] if item.rows is None else outputs[offset:offset + item.rows]
            offset += item.row_count
            if not isinstance(results[index], Failed):
                answer = self._guard([index], self.task.postprocess, mine, item)
                results[index] = answer if isinstance(answer, Failed) else [*results[index], answer]

    @staticmethod
    def _response(spoken: str, request: Request, inbound: Inbound | Failed, result: list[Any] | Failed, served: Served,
                  rules: InstanceRules) -> Response:
        """The response to one request, in the protocol it came in."""
        if isinstance(result, Failed):
            return Response(protocol.failure_body(spoken, result.body), result.status, result.phrase)
        request_id = inbound.request_id or request.request_id
        return Response(protocol.answer_body(inbound, result, served, request_id, rules))

    @staticmethod
    def _guard(indices: list[int], step: Callable[..., Any], *args: Any) -> Any:
        """Run one step for the requests at ``indices``; on error return their Failed (never raise)."""
        try:
            return step(*args)
        except HandlerError as err:
            if err.status >= 500:
                log.error("%s for requests %s: %s", type(err).__name__, indices, err)
            error = err
        except Exception as err:  # a bug or a model crash: the requests fail, the worker does not
            log.exception("unexpected error for requests %s", indices)
            error = HandlerError(f"internal error in the handler ({type(err).__name__}); see the model log")
        return Failed(error_body(error), error.status, error.phrase)
