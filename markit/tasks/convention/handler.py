"""The model brings its own ``preprocess`` and ``postprocess`` (seed 001's convention).

Per request the model's ``preprocess(raw)`` turns the raw input into one tensor (no batch
dimension); the tensors are stacked and run through ``forward`` once; each output row goes
through the model's ``postprocess(row)``. ``raw`` is the request's bytes (raw body or a form field
``data``), the parsed JSON value for a JSON body, or text for ``text/*``. A ``ValueError`` from the
model's ``preprocess`` becomes a 422 for that request carrying the model's message; raw bytes that
are an image over the archive's budget ``pixels`` are refused with a 413 before the model sees them
(and an image the model itself opens from JSON, over Pillow's own limit, is a 413 too); anything else
fails that request only, with a 500 and the traceback in the model log.

What a v2 request carries is the model's to say: a class attribute ``v2_inputs``, a tuple of ``{name, datatype,
shape, description}`` (``shape``: one instance's, without the batch dimension), e.g. digits' ``x`` FP32 [8, 8].
The row of the one input (or ``{name: row}`` for several) is what ``preprocess`` gets, as for a JSON body.
Without it the input is ``input`` BYTES, one element per instance, which ``preprocess`` gets as raw bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from PIL import Image

from ...core.declared import Input, inputs_from
from ...core.errors import ArchiveError, BadInput, PayloadTooLarge, UnprocessableInput
from ...core.exchange import Metrics
from ...core.handler import Decoded, TaskHandler
from ...core.loading import LoadedModel
from ...core.payload import Payload, sole_input
from ...core.unpacked import UnpackedArchive
from ..common.images import check_image_pixels

__all__ = ["ConventionHandler", "raw_input"]


class ConventionHandler(TaskHandler):
    task = "convention"
    input_kind = "any"  # the model's preprocess says what it takes
    answer_fields: ClassVar[Mapping[str, str]] = {"result": "any", "model": "json"}
    needs_instance = True

    def __init__(self, archive: UnpackedArchive, model: LoadedModel) -> None:
        super().__init__(archive, model)
        if self.instance is None:
            raise ArchiveError("the convention task needs the model's source in the archive (spec.model.source)")
        declarations = getattr(type(self.instance), "v2_inputs", None)
        self._inputs = self.takes if declarations is None else \
            inputs_from(declarations, f"{type(self.instance).__name__}.v2_inputs")

    def declared_inputs(self) -> tuple[Input, ...]:
        """The model class's ``v2_inputs``, or one BYTES input of raw bytes."""
        return self._inputs

    def named_instances(self) -> bool:
        return len(self._inputs) > 1  # several declared inputs: an instance is {name: row}, which preprocess gets

    def decode(self, payload: Payload, metrics: Metrics) -> Decoded:
        raw = raw_input(payload)
        if isinstance(raw, bytes):
            check_image_pixels(raw, self.budgets.pixels)  # before the model's preprocess opens it
        try:
            tensor = self.instance.preprocess(raw)
        except ValueError as err:
            raise UnprocessableInput(f"{type(self.instance).__name__}.preprocess refused the input: {err}") from err
        except Image.DecompressionBombError as err:
            raise PayloadTooLarge(f"{type(self.instance).__name__}.preprocess opened an image over Pillow's limit of "
                                  f"{2 * Image.MAX_IMAGE_PIXELS} pixels ({err}); send a smaller image") from err
        if not isinstance(tensor, torch.Tensor):
            raise ArchiveError(f"{type(self.instance).__name__}.preprocess returned {type(tensor).__name__}, not a tensor")
        return Decoded(tensor=tensor)

    def postprocess(self, output: torch.Tensor, item: Decoded) -> dict[str, Any]:
        result = self.instance.postprocess(output)
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ArchiveError(f"{type(self.instance).__name__}.postprocess returned something JSON cannot hold: {err}") from err
        return {"result": result, "model": self.archive.summary}


def raw_input(payload: Payload) -> Any:
    """The one input field (``body``, or a form field ``data``) as bytes, parsed JSON or text."""
    _, value, _ = sole_input(payload, "send the input as the request body or as one form field named 'data'")
    if isinstance(value, bytearray):
        value = bytes(value)
    if isinstance(value, bytes) and not value:
        raise BadInput("the request body is empty: send the input")
    return value


HANDLER = ConventionHandler  # the task's one handler class, found by markit.tasks.handler_class
