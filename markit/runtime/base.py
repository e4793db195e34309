"""The base task handler: owns TorchServe's per-batch lifecycle so task handlers only say what is theirs.

Per batch: each request is decoded on its own (a bad one gets its own 4xx and never touches the
others), the good ones are collated into one tensor, run once under ``inference_mode``, and each
output row is postprocessed on its own. ``handle`` always returns one item per request and never
raises, so TorchServe never fails a whole batch or restarts the worker because of input.

A request may also be a KServe v1/v2 request (``kserve.py``): its instances are decoded one by one
like plain requests, run in the same forward as the rest of the batch, and answered together in
that protocol; a bad instance fails its own request only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import kserve
from .errors import ArchiveError, HandlerError, error_body
from .model_loading import LoadedModel
from .payload import Payload
from .unpacked_archive import UnpackedArchive

__all__ = ["Decoded", "TaskHandler"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decoded:
    """One request, ready for the model.

    ``tensor`` is its input (or ``data`` a task-specific form of it, e.g. token ids); ``rows`` is
    None when the request is one input (its answer gets one output row), or k when it carries k
    inputs (its answer gets the k rows in order)."""

    tensor: torch.Tensor | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    rows: int | None = None

    @property
    def row_count(self) -> int:
        return 1 if self.rows is None else self.rows


class _Failed:
    """Marks a request that already has its error response."""

    def __init__(self, body: dict) -> None:
        self.body = body


class TaskHandler:
    """Subclasses implement ``decode`` and ``postprocess``; ``preprocess`` stacks by default."""

    task: str = ""
    needs_instance: bool = False  # True: the model class's own methods are used, not only its forward
    named_inputs: bool = False  # KServe v2: each instance is {tensor name: row} even with one input tensor
    max_instances: int = kserve.MAX_INSTANCES  # most instances in one KServe request

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        self.archive = archive
        self.model = model.forward
        self.instance = model.instance

    # -- the task's hooks -------------------------------------------------------------------
    def decode(self, payload: Payload) -> Decoded:
        """One request -> model-ready input; raise BadInput (or a subclass) naming the problem."""
        raise NotImplementedError

    def preprocess(self, items: Sequence[Decoded]) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Decoded requests -> the model's batch input (a tuple is passed as several arguments)."""
        return torch.stack([item.tensor for item in items])

    def postprocess(self, output: torch.Tensor, item: Decoded) -> Any:
        """The request's output row (or its ``rows`` rows) -> the JSON-able answer for that request."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What ``GET /models/NAME?customized=true`` shows: the whole manifest."""
        return self.archive.manifest

    # -- TorchServe's entry ----------------------------------------------------------------
    def handle(self, data: list[dict], context: Any) -> list[Any]:
        """One TorchServe batch -> one answer per request, each with its own status.

        A request is plain (the task's own forms) or a KServe v1/v2 request whose instances are
        answered together; under TorchServe's own ``kserve``/``kservev2`` service envelope, ``data``
        holds the instances (or tensors) of the one request the envelope unwrapped."""
        if _is_describe(context):
            return [self.describe()]
        envelope = _envelope(data, context)
        if envelope:
            requests = [self._guard(context, [0], kserve.from_envelope, envelope, data, self.named_inputs, self.max_instances)]
        else:
            payloads = [Payload.from_torchserve(item, context, index) for index, item in enumerate(data)]
            protocols = [kserve.protocol_of(payload) for payload in payloads]
            requests = [self._guard(context, [index], kserve.expand, payload, protocol, self.named_inputs, self.max_instances)
                        for index, (payload, protocol) in enumerate(zip(payloads, protocols, strict=True))]
        answers = self._answer(context, requests)
        refused = sum(isinstance(answer, _Failed) for answer in answers)
        log.info("batch of %d requests: %d answered, %d refused", len(answers), len(answers) - refused, refused)
        if envelope:
            if isinstance(answers[0], _Failed):
                return kserve.envelope_failure(envelope, answers[0].body)
            return kserve.envelope_result(envelope, answers[0])
        return [self._respond(context, index, protocols[index], requests[index], answer) for index, answer in enumerate(answers)]

    def decode_request(self, item: dict, context: Any, index: int) -> Decoded:
        """Request ``index`` of a TorchServe batch (a plain one) -> model-ready input (raises on bad input)."""
        return self.decode(Payload.from_torchserve(item, context, index))

    def _decode_all(self, request: kserve.Inbound) -> list[Decoded]:
        """Every payload of a request; an error names the KServe instance it concerns."""
        items = []
        for position, payload in enumerate(request.payloads):
            try:
                items.append(self.decode(payload))
            except HandlerError as err:
                label = request.label(position)
                if not label:
                    raise
                raise type(err)(f"{label}: {err}") from err
        return items

    def _answer(self, context: Any, requests: list[Any]) -> list[Any]:
        """Per request: its answers (one per payload, in order) or its _Failed."""
        results: list[Any] = list(requests)
        jobs: list[tuple[int, Decoded]] = []
        for index, request in enumerate(requests):
            if isinstance(request, _Failed):
                continue
            items = self._guard(context, [index], self._decode_all, request)
            if isinstance(items, _Failed):
                results[index] = items
            else:
                results[index] = []
                jobs += [(index, item) for item in items]
        if jobs:
            self._run(context, jobs, results)
        return results

    def _forward(self, items: list[Decoded]) -> torch.Tensor:
        with torch.inference_mode():
            inputs = self.preprocess(items)
            outputs = self.model(*inputs) if isinstance(inputs, tuple) else self.model(inputs)
        rows = sum(item.row_count for item in items)
        if not isinstance(outputs, torch.Tensor) or outputs.ndim == 0 or outputs.shape[0] != rows:
            shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise ArchiveError(f"the model returned {shape} for a batch of {rows}; expected a tensor with one row per input")
        return outputs

    def _run(self, context: Any, jobs: list[tuple[int, Decoded]], results: list[Any]) -> None:
        """One forward over every decoded input of the batch; each output row postprocessed on its own."""
        outputs = self._guard(context, sorted({index for index, _ in jobs}), self._forward, [item for _, item in jobs])
        if isinstance(outputs, _Failed):
            for index, _ in jobs:
                results[index] = outputs
            return
        offset = 0
        for index, item in jobs:
            mine = outputs[offset] if item.rows is None else outputs[offset:offset + item.rows]
            offset += item.row_count
            if not isinstance(results[index], _Failed):
                answer = self._guard(context, [index], self.postprocess, mine, item)
                results[index] = answer if isinstance(answer, _Failed) else [*results[index], answer]

    def _respond(self, context: Any, index: int, protocol: str, request: Any, answer: Any) -> Any:
        """The body TorchServe sends for request ``index``, in the protocol it came in."""
        if isinstance(answer, _Failed):
            return answer.body if protocol == kserve.PLAIN else kserve.error_response(answer.body)
        if protocol == kserve.V1:
            return kserve.v1_response(answer)
        if protocol == kserve.V2:
            name = context.model_name if isinstance(getattr(context, "model_name", None), str) else self.archive.spec["name"]
            return kserve.v2_response(answer, name, str(self.archive.spec["version"]),
                                      request.request_id or context.get_request_id(index))
        return answer[0]

    def _guard(self, context: Any, indices: list[int], step: Callable[..., Any], *args: Any) -> Any:
        """Run one step; on error set the status of the requests it concerns and return _Failed."""
        try:
            return step(*args)
        except HandlerError as err:
            if err.status >= 500:
                log.error("%s for requests %s: %s", type(err).__name__, indices, err)
            error = err
        except Exception as err:
            log.exception("unexpected error for requests %s", indices)
            error = HandlerError(f"internal error in the handler ({type(err).__name__}); see the model log")
        for index in indices:
            context.set_response_status(error.status, error.phrase, index)
        return _Failed(error_body(error))


def _is_describe(context: Any) -> bool:
    return str(context.get_request_header(0, "describe")) == "True"


def _envelope(data: Any, context: Any) -> str | None:
    """Which TorchServe service envelope, if any, replaced this batch's requests by KServe items.

    TorchServe's ``kservev2`` envelope sets ``context.input_names`` just before calling the handler.
    Its ``kserve`` (v1) envelope passes the first request's ``instances`` instead of the batch's
    requests; a real request row names only fields TorchServe recorded a header for, which a client
    cannot undo, so a batch of real requests is never mistaken for instances."""
    if hasattr(context, "input_names"):
        return kserve.V2
    count = len(getattr(context, "request_ids", None) or {})
    if not isinstance(data, list) or len(data) != count:
        return kserve.V1
    for index, row in enumerate(data):
        if not isinstance(row, dict) or any(context.get_request_header(index, name) is None for name in row):
            return kserve.V1
    return None
