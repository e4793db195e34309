"""The base task handler: the engine-free core of a batch, so task handlers only say what is theirs.

``answer`` takes the requests of one batch (``exchange.Request``) and returns one ``exchange.Response``
per request, each with its own status. Per batch: each request's protocol and instances are read on
their own (``protocol.py``: a task's own body, KServe v1 or v2), each payload is decoded on its own (a
bad one gets its own 4xx and never touches the others), the good ones are collated into one tensor,
run once under ``inference_mode``, and each output row is postprocessed on its own. ``answer`` never
raises because of a request, so an engine never fails a whole batch or restarts a worker for input.

Engines are thin adapters over this: TorchServe's is ``torchserve.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch

from ..protocols import routing as protocol
from ..protocols.routing import Inbound, InstanceRules
from ..protocols.typed_outputs import TypedOutput
from .budgets import Budgets
from .declared import Input
from .errors import ArchiveError, HandlerError, error_body
from .exchange import NO_METRICS, Metrics, Request, Response, Served
from .loading import LoadedModel
from .payload import Payload
from .unpacked import UnpackedArchive

__all__ = ["Decoded", "TaskHandler"]

log = logging.getLogger(__name__)

Detail = TypeVar("Detail")


@dataclass(frozen=True)
class Decoded(Generic[Detail]):
    """One payload, ready for the model.

    ``tensor`` is its input; ``detail`` is what else the task keeps of it for its own preprocess and
    postprocess, typed by the task (e.g. the tokenized texts, the requested top-k, the guard warnings);
    ``rows`` is None when the payload is one input (its answer gets one output row), or k when it
    carries k inputs (its answer gets the k rows in order); ``work``: what it costs in the task's work
    budget (``TaskHandler.work_budget``), which the payloads of one request share."""

    tensor: torch.Tensor | None = None
    detail: Detail | None = None
    rows: int | None = None
    work: int = 0

    @property
    def row_count(self) -> int:
        return 1 if self.rows is None else self.rows


@dataclass(frozen=True)
class _Failed:
    """A request that already has its error: the body and the status it is answered with."""

    body: dict[str, Any]
    status: int
    phrase: str


class TaskHandler:
    """Subclasses implement ``decode`` and ``postprocess``; ``preprocess`` stacks by default and ``forward`` runs the
    model once over the batch (a task that runs it otherwise, e.g. a search over decoder steps, replaces it).
    ``takes`` declares what a v2 request carries (``declared.py``): the tensors and the per-request options."""

    task: str = ""
    takes: tuple[Input, ...] = (Input("input", "BYTES", (), "the input's bytes, as a request body"),)
    work_budget: str | None = None  # the budget kind that the ``work`` of one request's payloads adds up against
    needs_instance: bool = False  # True: the model class's own methods are used, not only its forward
    program_methods: tuple[str, ...] = ()  # the model's methods the task calls, each its own program (seq2seq)

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        self.archive = archive
        self.budgets: Budgets = archive.spec.budgets
        self.model = model.forward
        self.instance = model.instance

    # -- the task's hooks -------------------------------------------------------------------
    def decode(self, payload: Payload, metrics: Metrics) -> Decoded:
        """One payload -> model-ready input; raise BadInput (or a subclass) naming the problem."""
        raise NotImplementedError

    def preprocess(self, items: Sequence[Decoded]) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Decoded payloads -> the model's batch input (a tuple is passed as several arguments)."""
        return torch.stack([item.tensor for item in items])

    def forward(self, items: list[Decoded]) -> Sequence[Any]:
        """The model over every decoded payload of the batch: one output row per input, in order (default:
        ``preprocess``, then one call of the model under ``inference_mode``)."""
        with torch.inference_mode():
            inputs = self.preprocess(items)
            outputs = self.model(*inputs) if isinstance(inputs, tuple) else self.model(inputs)
        rows = sum(item.row_count for item in items)
        if not isinstance(outputs, torch.Tensor) or outputs.ndim == 0 or outputs.shape[0] != rows:
            shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise ArchiveError(f"the model returned {shape} for a batch of {rows}; expected a tensor with one row per input")
        return outputs

    def postprocess(self, output: torch.Tensor, item: Decoded) -> Any:
        """The payload's output row (or its ``rows`` rows) -> the JSON-able answer for it."""
        raise NotImplementedError

    def typed_outputs(self) -> tuple[TypedOutput, ...]:
        """The typed v2 outputs this task's answers carry beside the JSON ``answer`` (``typed_outputs.py``)."""
        return ()

    def declared_inputs(self) -> tuple[Input, ...]:
        """The inputs and options a v2 request may carry: the class's ``takes`` (a task whose inputs depend on the
        archive, e.g. regression's features, says them here)."""
        return self.takes

    def v2_inputs(self) -> list[dict[str, Any]]:
        """The v2 model metadata's inputs: the declared required ones (options are request parameters)."""
        return [item.metadata() for item in self.declared_inputs() if item.required]

    def v2_outputs(self) -> list[dict[str, Any]]:
        """The v2 model metadata's outputs: the JSON ``answer`` and the task's typed outputs."""
        return [{"name": protocol.OUTPUT_NAME, "datatype": "BYTES", "shape": [-1]}, *(o.metadata() for o in self.typed_outputs())]

    def instance_rules(self) -> InstanceRules:
        """How this task's KServe instances look (named tensors, which budget counts them) and its typed outputs."""
        return InstanceRules(self.budgets, outputs=self.typed_outputs(), inputs=self.declared_inputs())

    def describe(self) -> dict[str, Any]:
        """The archive's public description (TorchServe shows it at ``GET /models/NAME?customized=true``):
        its schema version, identity and spec, and how many files the worker verified. The file hashes and
        the provenance (build machine, tool versions, input paths) stay in the archive's manifest.json: an
        engine cannot always tell a management call from a client's (docs/serving.md)."""
        manifest = self.archive.manifest
        return {"schema_version": manifest["schema_version"], "identity": manifest["identity"], "spec": manifest["spec"],
                "files_verified": len(manifest.get("files", {}))}

    def served(self) -> Served:
        """The archive's own name and version, for an engine that serves it under them."""
        return Served(self.archive.spec.name, self.archive.spec.version)

    # -- the engines' entry ----------------------------------------------------------------
    def answer(self, requests: Sequence[Request], served: Served | None = None, metrics: Metrics = NO_METRICS) -> list[Response]:
        """One batch -> one response per request, in order, each with its own status."""
        served = served or self.served()
        rules = self.instance_rules()
        protocols, inbound = [], []
        for index, request in enumerate(requests):
            read = self._guard([index], self._read, request)
            if isinstance(read, _Failed):
                protocols.append(protocol.spoken_when_unreadable(request))
                inbound.append(read)
                continue
            spoken, unpacked, body = read
            protocols.append(spoken)
            inbound.append(self._guard([index], protocol.inbound, unpacked, spoken, rules, body))
        results = self._answer(inbound, metrics)
        refused = sum(isinstance(result, _Failed) for result in results)
        log.info("batch of %d requests: %d answered, %d refused", len(results), len(results) - refused, refused)
        return [self._response(spoken, request, parsed, result, served, rules)
                for spoken, request, parsed, result in zip(protocols, requests, inbound, results, strict=True)]

    def answer_envelope(self, envelope: str, rows: Any, metrics: Metrics = NO_METRICS) -> Response:
        """The one request a TorchServe ``kserve``/``kservev2`` service envelope unwrapped into ``rows``."""
        [result] = self._answer([self._guard([0], protocol.enveloped, envelope, rows, self.instance_rules())], metrics)
        if isinstance(result, _Failed):
            return Response(protocol.envelope_body(envelope, None, result.body), result.status, result.phrase)
        return Response(protocol.envelope_body(envelope, result, None))

    # -- the batch --------------------------------------------------------------------------
    def _read(self, request: Request) -> tuple[str, Request, Any]:
        """The request's protocol, once its size is within the budget ``request_bytes``, the request as the
        protocol layer reads it (a binary-tensor request unpacked into JSON) and its KServe body (parsed once)."""
        self.budgets.check_request(request.payload)
        request = protocol.unpacked(request)
        spoken, body = protocol.read(request)
        return spoken, request, body

    def _decode_all(self, request: Inbound, metrics: Metrics) -> list[Decoded]:
        """Every payload of a request; an error names the KServe instance it concerns."""
        items = []
        for position, payload in enumerate(request.payloads):
            try:
                items.append(self.decode(payload, metrics))
            except HandlerError as err:
                label = request.label(position)
                if not label:
                    raise
                raise type(err)(f"{label}: {err}") from err
        if self.work_budget is not None and len(items) > 1:  # one payload's work is checked by its task's decode
            self.budgets.check(self.work_budget, sum(item.work for item in items), f"the request's {len(items)} instances together")
        return items

    def _answer(self, requests: list[Inbound | _Failed], metrics: Metrics) -> list[list[Any] | _Failed]:
        """Per request: its answers (one per payload, in order) or its _Failed."""
        results: list[Any] = list(requests)
        jobs: list[tuple[int, Decoded]] = []
        for index, request in enumerate(requests):
            if isinstance(request, _Failed):
                continue
            items = self._guard([index], self._decode_all, request, metrics)
            if isinstance(items, _Failed):
                results[index] = items
            else:
                results[index] = []
                jobs += [(index, item) for item in items]
        if jobs:
            self._run(jobs, results)
        return results

    def _run(self, jobs: list[tuple[int, Decoded]], results: list[Any]) -> None:
        """One forward over every decoded payload of the batch; each output row postprocessed on its own."""
        outputs = self._guard(sorted({index for index, _ in jobs}), self.forward, [item for _, item in jobs])
        if isinstance(outputs, _Failed):
            for index, _ in jobs:
                results[index] = outputs
            return
        offset = 0
        for index, item in jobs:
            mine = outputs[offset] if item.rows is None else outputs[offset:offset + item.rows]
            offset += item.row_count
            if not isinstance(results[index], _Failed):
                answer = self._guard([index], self.postprocess, mine, item)
                results[index] = answer if isinstance(answer, _Failed) else [*results[index], answer]

    @staticmethod
    def _response(spoken: str, request: Request, inbound: Inbound | _Failed, result: list[Any] | _Failed, served: Served,
                  rules: InstanceRules) -> Response:
        """The response to one request, in the protocol it came in."""
        if isinstance(result, _Failed):
            return Response(protocol.failure_body(spoken, result.body), result.status, result.phrase)
        request_id = inbound.request_id or request.request_id
        return Response(protocol.answer_body(inbound, result, served, request_id, rules))

    @staticmethod
    def _guard(indices: list[int], step: Callable[..., Any], *args: Any) -> Any:
        """Run one step for the requests at ``indices``; on error return their _Failed (never raise)."""
        try:
            return step(*args)
        except HandlerError as err:
            if err.status >= 500:
                log.error("%s for requests %s: %s", type(err).__name__, indices, err)
            error = err
        except Exception as err:  # a bug or a model crash: the requests fail, the worker does not
            log.exception("unexpected error for requests %s", indices)
            error = HandlerError(f"internal error in the handler ({type(err).__name__}); see the model log")
        return _Failed(error_body(error), error.status, error.phrase)
