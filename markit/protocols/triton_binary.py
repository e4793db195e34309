"""Triton's binary tensor extension of the v2 protocol, read into the v2 request ``codec.py`` reads.

tritonclient sends tensors in binary by default: the body is the JSON request (its length in the header
``Inference-Header-Content-Length``) followed by each binary input's bytes, in the order of ``inputs``;
such an input has ``parameters.binary_data_size`` instead of ``data``. Numeric tensors are little-endian
arrays of their datatype; a ``BYTES`` tensor is its elements, each a 4-byte little-endian length and
that many bytes. Here each binary input becomes ``data``: a numeric one a numpy array of its datatype (over the
body's own bytes: no element becomes a Python object), a ``BYTES`` one its elements as ``bytes``, so
``codec.py`` reads them as it reads any v2 request (a numeric tensor stays an array up to the task; a ``BYTES``
element is bytes on every route: a raw body to the task). Every inconsistency is a 400 naming it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..core.declared import NUMPY_TYPES
from ..core.errors import BadInput
from ..core.payload import Payload, decode_json_bytes
from .codec import check_input_count

__all__ = ["HEADER_LENGTH", "unpack"]

HEADER_LENGTH = "inference-header-content-length"  # the request header (lower-cased) that marks the extension
_LENGTH = struct.Struct("<I")


def unpack(payload: Payload, header_length: str) -> Payload:
    """A request in the binary extension -> the same v2 request, its binary inputs' data read."""
    body = payload.fields.get("body")
    if len(payload.fields) != 1 or not isinstance(body, (bytes, bytearray)):
        raise BadInput(f"the request declares {HEADER_LENGTH} but its body is not one binary body")
    if not header_length.strip().isdigit() or int(header_length) > len(body):
        raise BadInput(f"{HEADER_LENGTH} is {header_length!r}, not a length within the {len(body)}-byte body")
    split = int(header_length)
    request = decode_json_bytes("the JSON header", bytes(body[:split]), "application/json")
    if not isinstance(request, Mapping) or not isinstance(request.get("inputs"), list):
        raise BadInput(f"the first {split} bytes ({HEADER_LENGTH}) must be a v2 JSON request with 'inputs'")
    check_input_count(len(request["inputs"]))
    offset, inputs = split, []
    for index, tensor in enumerate(request["inputs"]):
        size = _binary_size(tensor, index)
        if size is None:
            inputs.append(tensor)
            continue
        if offset + size > len(body):
            raise BadInput(f"inputs[{index}] declares binary_data_size {size}, but only {len(body) - offset} bytes follow")
        inputs.append(_read(tensor, bytes(body[offset:offset + size]), index))
        offset += size
    if offset != len(body):
        raise BadInput(f"{len(body) - offset} bytes follow the binary inputs; the body must end with the last one")
    return Payload({"body": {**request, "inputs": inputs}}, {"body": "application/json"})


def _binary_size(tensor: Any, index: int) -> int | None:
    parameters = tensor.get("parameters") if isinstance(tensor, Mapping) else None
    if not isinstance(parameters, Mapping) or "binary_data_size" not in parameters:
        return None
    size = parameters["binary_data_size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BadInput(f"inputs[{index}].parameters.binary_data_size must be a byte count, got {json.dumps(size)[:40]}")
    if "data" in tensor:
        raise BadInput(f"inputs[{index}] has both data and binary_data_size; send one")
    return size


def _read(tensor: Mapping[str, Any], data: bytes, index: int) -> dict[str, Any]:
    """One binary input as a v2 tensor (an array of its datatype, or BYTES elements as ``bytes``)."""
    datatype = tensor.get("datatype")
    parameters = {k: v for k, v in tensor["parameters"].items() if k != "binary_data_size"}
    if datatype == "BYTES":
        elements = {**tensor, "data": _bytes_elements(data, index), "parameters": parameters}
        return elements if parameters else {key: value for key, value in elements.items() if key != "parameters"}
    if datatype not in NUMPY_TYPES:
        raise BadInput(f"inputs[{index}].datatype {datatype!r} is not one of {[*NUMPY_TYPES, 'BYTES']}")
    width = np.dtype(NUMPY_TYPES[datatype]).itemsize
    if len(data) % width:
        raise BadInput(f"inputs[{index}]: {len(data)} bytes is not a whole number of {datatype} values ({width} bytes each)")
    values = np.frombuffer(data, dtype=NUMPY_TYPES[datatype])
    numeric = {**tensor, "data": values, "parameters": parameters}
    return numeric if parameters else {key: value for key, value in numeric.items() if key != "parameters"}


def _bytes_elements(data: bytes, index: int) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise BadInput(f"inputs[{index}]: a BYTES element's 4-byte length is cut off at byte {offset}")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + size > len(data):
            raise BadInput(f"inputs[{index}]: a BYTES element of {size} bytes runs past the input's end")
        elements.append(data[offset:offset + size])
        offset += size
    return elements

