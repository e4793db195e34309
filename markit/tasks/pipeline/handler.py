"""A pipeline: several archives composed by a declared graph, served as one model by one worker, in process.

At load the pipeline's steps (archives unpacked inside its own) are checked, pinned, loaded and their golden
examples replayed (``steps.py``); its tables and its own functions are read. Per batch, each request's input is
kept as the caller sent it (a step reading ``request`` gets exactly that), the graph runs over the whole batch
(``graph.py``: each step called once per node with every request's values), and each request is answered with
the fields of ``output``, or with the error of the node that stopped it: a step's own status and message, with
the step named (``StepFailed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...core.declared import Input
from ...core.errors import ArchiveError
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel, import_source
from ...core.payload import Payload, sole_input
from ...core.service import configure_threads
from ...core.unpacked import UnpackedArchive
from .graph import Flight, Graph
from .manifest import REQUEST, PipelineSpec
from .steps import Forwarded, load_steps

__all__ = ["HANDLER", "PipelineHandler"]

INPUT_HINT = "send the pipeline's input as the request body (an image's bytes, text, or JSON) or one form field 'data'"


class PipelineHandler(TaskHandler):
    task = "pipeline"
    takes = (Input("input", "BYTES", (), "the pipeline's input: an image's bytes, a text or JSON"),)

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        spec: PipelineSpec = archive.spec  # type: ignore[assignment]
        self.steps = load_steps(archive, spec.steps)
        configure_threads(archive)  # each step set its own threads as it loaded; the pipeline's batches run with its own
        self.graph = Graph(spec, self.steps, _tables(archive, spec), _functions(archive, spec), self.budgets.pixels or 0)

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded[Flight]:
        _, value, _ = sole_input(payload, INPUT_HINT)
        if isinstance(value, bytearray):  # as TorchServe hands a body over; the KServe runtime hands bytes
            value = bytes(value)
        forwarded = Forwarded(dict(payload.fields), dict(payload.content_types))
        return Decoded(detail=Flight({REQUEST: value}, forwarded))

    def forward(self, items: list[Decoded[Flight]]) -> Sequence[Flight]:
        flights = [item.detail for item in items]
        self.graph.run(flights)
        return flights

    def postprocess(self, output: Flight, item: Decoded[Flight]) -> dict[str, Any]:
        if output.failure is not None:
            raise output.failure
        answer = self.graph.answer(output)
        if output.absent:
            answer["absent"] = output.absent
        return {**answer, "model": self.archive.summary}

    def describe(self) -> dict[str, Any]:
        """The archive's description, each step with the identity it is pinned to and serves with."""
        steps = {name: {"name": step.pin.name, "version": step.pin.version, "task": step.pin.task,
                        "identity": step.pin.identity} for name, step in self.steps.items()}
        return {**super().describe(), "steps": steps}


def _tables(archive: UnpackedArchive, spec: PipelineSpec) -> dict[str, Mapping[str, Any]]:
    """Each table: a JSON object in the archive."""
    tables = {}
    for name, entry in (spec.tables or {}).items():
        try:
            table = json.loads((archive.directory / entry.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ArchiveError(f"table {name!r} ({entry.file}) cannot be read: {err}") from err
        if not isinstance(table, dict):
            raise ArchiveError(f"table {name!r} ({entry.file}) is a JSON {type(table).__name__}, not an object of key -> value")
        tables[name] = table
    return tables


def _functions(archive: UnpackedArchive, spec: PipelineSpec) -> dict[str, Callable[..., Any]]:
    """The functions the graph's call nodes name, from the pipeline's own source file."""
    if spec.source is None:
        return {}
    module = import_source(archive.directory / spec.source)
    names = {node.call for node in spec.graph if hasattr(node, "call")}
    missing = sorted(name for name in names if not callable(getattr(module, name, None)))
    if missing:
        raise ArchiveError(f"source {spec.source!r} defines no function {missing[0]!r}, which the graph calls")
    return {name: getattr(module, name) for name in names}


HANDLER = PipelineHandler  # the task's one handler class, found by markit.tasks.handler_class
