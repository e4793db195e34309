"""TorchServe's own ``kserve``/``kservev2`` service envelopes: detecting them, reading what they pass, and
the item they wrap into their response.

With ``service_envelope`` set, TorchServe's worker unwraps one KServe request before the handler sees it
and builds the response around what the handler returns; the handler never sees the HTTP request:
- ``kserve`` (v1) passes the request's ``instances`` in place of the batch's rows, and wraps the returned
  list as ``predictions``;
- ``kservev2`` passes the request's input tensors, each ``BYTES`` tensor's ``data`` replaced by its first
  element, sets ``context.input_names``, and turns each returned item into one output tensor.
So a batch under an envelope is one request, and its instances are read here into the core's ``Inbound``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.errors import BadInput
from ...protocols import codec
from ...protocols.codec import V1, V1_FORM, V2, Inbound
from ...protocols.routing import InstanceRules

__all__ = ["detect", "failure", "read", "result"]


def detect(data: Any, context: Any) -> str | None:
    """Which service envelope, if any, replaced this batch's requests by KServe items (``V1``/``V2``).

    The ``kservev2`` envelope sets ``context.input_names`` just before calling the handler. The ``kserve``
    envelope passes the first request's ``instances`` instead of the batch's requests; a real request row
    names only fields TorchServe recorded a header for, which a client cannot undo, so a batch of real
    requests is never mistaken for instances."""
    if hasattr(context, "input_names"):
        return V2
    count = len(getattr(context, "request_ids", None) or {})
    if not isinstance(data, list) or len(data) != count:
        return V1
    for index, row in enumerate(data):
        if not isinstance(row, dict) or any(context.get_request_header(index, name) is None for name in row):
            return V1
    return None


def read(protocol: str, rows: Any, rules: InstanceRules) -> Inbound:
    """What the envelope passed as the batch's rows -> the instances of the one request it unwrapped."""
    if protocol == V1:
        if rows is None:
            raise BadInput(f"TorchServe's kserve envelope found no 'instances' in the request; send {V1_FORM}")
        return Inbound(V1, codec.v1_payloads(rows, rules.admit))
    tensors = [_whole(tensor, index) for index, tensor in enumerate(rows)] if isinstance(rows, list) else rows
    return Inbound(V2, codec.v2_payloads(tensors, rules.admit, rules.named, declared=rules.inputs))


def _whole(tensor: Any, index: int) -> Any:
    """A tensor as the request sent it: the envelope kept only the first element of a BYTES tensor's data, so
    a tensor of one element gets its list back and one of more is refused, naming the envelope."""
    if not isinstance(tensor, Mapping) or tensor.get("datatype") != "BYTES" or isinstance(tensor.get("data", []), list):
        return tensor
    shape = tensor.get("shape")
    if isinstance(shape, list) and all(isinstance(n, int) for n in shape) and math.prod(shape) != 1:
        raise BadInput(f"KServe v2 request: inputs[{index}] ({tensor.get('name')!r}) has shape {shape}, but TorchServe's "
                       "kservev2 envelope passes only the first element of a BYTES tensor; send one element per request, "
                       "or serve without service_envelope (the handlers speak v2 themselves, see docs/kserve.md)")
    return {**tensor, "data": [tensor["data"]]}


def result(protocol: str, answers: Sequence[Any]) -> list[Any]:
    """What the handler returns to the envelope, which builds the response around it: v1 wraps the list as
    ``predictions``; v2 turns the one item into the ``answer`` output tensor."""
    return list(answers) if protocol == V1 else [codec.v2_answer_data(answers)]


def failure(protocol: str, body: Mapping[str, Any]) -> list[Any]:
    """The error of the request the envelope unwrapped, as the one item the envelope wraps."""
    error = codec.error_response(body)
    return [error] if protocol == V1 else [json.dumps(error, ensure_ascii=False)]
