"""The task: what a task folder's handler says of its own, and nothing of batches or protocols.

A task subclasses ``TaskHandler`` and implements ``decode`` (one payload -> model-ready input) and
``postprocess`` (one output row -> its JSON answer); ``preprocess`` collates and ``forward`` runs the model
once over the batch by default. It declares what a request carries (``takes``/``declared_inputs``: its
tensors and options), its typed outputs and how its instances are counted. The batch core
(``batch.BatchCore``) runs it: isolation per request, protocol routing, the engines' entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import torch

from ..protocols.typed_outputs import TypedOutput
from .budgets import Budgets
from .declared import Input
from .errors import ArchiveError
from .exchange import Metrics, Served
from .loading import LoadedModel
from .payload import Payload
from .unpacked import UnpackedArchive

__all__ = ["Decoded", "TaskHandler"]

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


class TaskHandler:
    """Subclasses implement ``decode`` and ``postprocess``; ``preprocess`` stacks by default and ``forward`` runs the
    model once over the batch (a task that runs it otherwise, e.g. a search over decoder steps, replaces it).
    ``takes`` declares what a v2 request carries (``declared.py``): the tensors and the per-request options."""

    task: str = ""
    takes: tuple[Input, ...] = (Input("input", "BYTES", (), "the input's bytes, as a request body"),)
    instance_budget: str = "instances"  # the budget kind that counts a KServe request's instances
    work_budget: str | None = None  # the budget kind that the ``work`` of one request's payloads adds up against
    needs_instance: bool = False  # True: the model class's own methods are used, not only its forward
    program_methods: tuple[str, ...] = ()  # the model's methods the task calls, each its own program (seq2seq)
    # what a pipeline step of this task takes and answers (one input), for the pipeline builder's edge check: a
    # kind is "image" (its bytes), "text", "json", "detections" (a list of {label, score, box}) or "any"
    input_kind: str = "any"
    answer_fields: ClassVar[Mapping[str, str]] = {}  # the answer's fields, each with its kind ({}: not declared)

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

    def named_instances(self) -> bool:
        """True: a v2 instance is the object ``{tensor name: row}`` even with one tensor (regression's features)."""
        return False

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
