"""What a task declares that a v2 request carries, once, as small typed values: ``Input`` (name, datatype, the
shape of one instance, required or an option, description).

The model metadata (``GET /v2/models/NAME``, gRPC ``ModelMetadata``) lists the required inputs, each with the
batch dimension first (``-1``): a client that builds its request from the metadata, as perf_analyzer and
generated SDKs do, sends exactly those. An optional input is a per-request option (e.g. ``top_k``): the OIP
metadata has no way to mark an input optional, so options are not listed there; a request gives one as a
request parameter (for all its instances) or as a tensor of shape ``[N]`` (one value per instance).

``check`` holds a request's tensors against the declarations: an unknown name, a missing required input, or
another datatype or shape is a 400 naming what was expected and what was given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ArchiveError, BadInput

__all__ = ["DATATYPES", "NUMPY_TYPES", "Input", "check", "inputs_from"]

# each numeric datatype's array type (little-endian, as Triton's binary extension and gRPC's raw contents hold it)
NUMPY_TYPES = {"BOOL": "?", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1", "UINT16": "<u2",
               "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
DATATYPES = (*NUMPY_TYPES, "BYTES")
DECLARATION_KEYS = frozenset({"name", "datatype", "shape", "description"})


@dataclass(frozen=True)
class Input:
    """One input tensor a task takes: ``shape`` is one instance's (the batch dimension comes first on the wire;
    ``-1``: any size); ``required`` False makes it a per-request option."""

    name: str
    datatype: str
    shape: tuple[int, ...] = ()
    description: str = ""
    required: bool = True

    @property
    def batched(self) -> list[int]:
        """The shape a request's tensor has: the instances first."""
        return [-1, *self.shape]

    def metadata(self) -> dict[str, Any]:
        """This input as the v2 model metadata lists it."""
        return {"name": self.name, "datatype": self.datatype, "shape": self.batched}

    def signature(self) -> str:
        """E.g. ``'x' FP32 [-1, 8, 8]``, for messages."""
        return f"{self.name!r} {self.datatype} {self.batched}"

    def fits(self, datatype: str, shape: Sequence[int]) -> bool:
        return datatype == self.datatype and len(shape) == len(self.shape) + 1 \
            and all(want in (-1, got) for want, got in zip(self.shape, shape[1:], strict=True))


def check(tensors: Sequence[tuple[str, str, Sequence[int]]], declared: Sequence[Input]) -> None:
    """400 unless every tensor ``(name, datatype, shape)`` is a declared input of its datatype and shape, and every
    required input is there."""
    known = {item.name: item for item in declared}
    for name, datatype, shape in tensors:
        item = known.get(name)
        if item is None:
            raise BadInput(f"KServe v2 request: input {name!r} is not one this model takes; {_takes(declared)}")
        if not item.fits(datatype, shape):
            kind = "input" if item.required else "option"
            raise BadInput(f"KServe v2 request: {kind} {name!r} is {datatype} {list(shape)}, but this model expects "
                           f"{item.datatype} {item.batched} ({item.description}); send that datatype and shape "
                           "(GET /v2/models/NAME lists the inputs)")
    given = {name for name, _, _ in tensors}
    missing = [item for item in declared if item.required and item.name not in given]
    if missing:
        raise BadInput(f"KServe v2 request: the input {missing[0].name!r} is missing; {_takes(declared)}")


def _takes(declared: Sequence[Input]) -> str:
    inputs = ", ".join(item.signature() for item in declared if item.required)
    options = ", ".join(item.signature() for item in declared if not item.required)
    text = f"it takes {inputs}"
    return text + (f", and the options {options} (as request parameters, or tensors of one value per instance)" if options else "")


def inputs_from(declarations: Any, where: str) -> tuple[Input, ...]:
    """A model's own declarations (a list of ``{name, datatype, shape, description}``, ``shape`` without the batch
    dimension) as required inputs; ``ArchiveError`` naming ``where`` and the problem."""
    if not isinstance(declarations, (list, tuple)) or not declarations:
        raise ArchiveError(f"{where} must be a non-empty list of {{name, datatype, shape, description}}")
    inputs = tuple(_declared(item, f"{where}[{index}]") for index, item in enumerate(declarations))
    names = [item.name for item in inputs]
    if len(set(names)) != len(names):
        raise ArchiveError(f"{where}: input names must be unique, got {names}")
    return inputs


def _declared(item: Any, where: str) -> Input:
    if not isinstance(item, Mapping) or set(item) - DECLARATION_KEYS or not {"name", "datatype"} <= set(item):
        raise ArchiveError(f"{where} must be an object with name, datatype, shape and description, got {item!r}")
    name, datatype, shape = item["name"], item["datatype"], item.get("shape", [])
    if not isinstance(name, str) or not name:
        raise ArchiveError(f"{where}.name must be a non-empty string, got {name!r}")
    if datatype not in DATATYPES:
        raise ArchiveError(f"{where}.datatype {datatype!r} is not one of {list(DATATYPES)}")
    if not isinstance(shape, (list, tuple)) or not all(isinstance(n, int) and not isinstance(n, bool) and (n > 0 or n == -1)
                                                       for n in shape):
        raise ArchiveError(f"{where}.shape must list one instance's dimensions (positive, or -1 for any size), got {shape!r}")
    return Input(name, datatype, tuple(shape), str(item.get("description", "")))
