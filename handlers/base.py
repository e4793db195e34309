"""The base task handler: owns TorchServe's per-batch lifecycle so task handlers only say what is theirs.

Per batch: each request is decoded on its own (a bad one gets its own 4xx and never touches the
others), the good ones are collated into one tensor, run once under ``inference_mode``, and each
output row is postprocessed on its own. ``handle`` always returns one item per request and never
raises, so TorchServe never fails a whole batch or restarts the worker because of input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .archive import Archive
from .errors import ArchiveError, HandlerError, error_body
from .model_loading import LoadedModel
from .payload import Payload

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

    def __init__(self, archive: Archive, model: LoadedModel) -> None:
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
        """One TorchServe batch -> one answer per request, each with its own status."""
        if _is_describe(context):
            return [self.describe()]
        results: list[Any] = [None] * len(data)
        decoded: list[tuple[int, Decoded]] = []
        for index, item in enumerate(data):
            outcome = self._guard(context, [index], self.decode_request, item, context, index)
            if isinstance(outcome, _Failed):
                results[index] = outcome
            else:
                decoded.append((index, outcome))
        if decoded:
            self._run(context, decoded, results)
        refused = sum(isinstance(result, _Failed) for result in results)
        log.info("batch of %d requests: %d answered, %d refused", len(data), len(data) - refused, refused)
        return [result.body if isinstance(result, _Failed) else result for result in results]

    def decode_request(self, item: dict, context: Any, index: int) -> Decoded:
        """Request ``index`` of a TorchServe batch -> model-ready input (raises on bad input)."""
        return self.decode(Payload.from_torchserve(item, context, index))

    def _forward(self, items: list[Decoded]) -> torch.Tensor:
        with torch.inference_mode():
            inputs = self.preprocess(items)
            outputs = self.model(*inputs) if isinstance(inputs, tuple) else self.model(inputs)
        rows = sum(item.row_count for item in items)
        if not isinstance(outputs, torch.Tensor) or outputs.ndim == 0 or outputs.shape[0] != rows:
            shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise ArchiveError(f"the model returned {shape} for a batch of {rows}; expected a tensor with one row per input")
        return outputs

    def _run(self, context: Any, decoded: list[tuple[int, Decoded]], results: list[Any]) -> None:
        indices = [index for index, _ in decoded]
        outputs = self._guard(context, indices, self._forward, [item for _, item in decoded])
        offset = 0
        for index, item in decoded:
            if isinstance(outputs, _Failed):
                results[index] = outputs
                continue
            mine = outputs[offset] if item.rows is None else outputs[offset:offset + item.rows]
            results[index] = self._guard(context, [index], self.postprocess, mine, item)
            offset += item.row_count

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
