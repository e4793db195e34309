"""The protocol layer: which protocol a request speaks (a task's own body, KServe v1, KServe v2), its
instances, and its answer or error in that protocol. The KServe codec itself is ``codec.py``, Triton's
binary tensors ``triton_binary.py``; the tasks see only payloads and answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.budgets import Budgets
from ..core.declared import Input
from ..core.errors import UnsupportedMediaType
from ..core.exchange import Request, Served
from . import codec as kserve
from . import triton_binary as binary_tensors
from .codec import OUTPUT_NAME, PLAIN, V1, V2, Inbound
from .typed_outputs import TypedOutput

__all__ = ["OUTPUT_NAME", "PLAIN", "V1", "V2", "Inbound", "InstanceRules", "answer_body", "check_encoding", "failure_body",
           "inbound", "read", "spoken_when_unreadable", "unpacked"]


@dataclass(frozen=True)
class InstanceRules:
    """How a task's KServe instances and answers look: ``named``: a v2 instance is ``{tensor name: row}`` even
    with one tensor (regression's features); ``budgets`` and ``budget``: the archive's budget that counts them;
    ``outputs``: the typed v2 outputs its answers carry; ``inputs``: its declared inputs and options."""

    budgets: Budgets
    budget: str = "instances"
    named: bool = False
    outputs: tuple[TypedOutput, ...] = ()  # the task's typed v2 outputs, beside the JSON answer
    inputs: tuple[Input, ...] = ()  # what a v2 request's tensors are checked against (declared.py)

    @property
    def output_names(self) -> tuple[str, ...]:
        return (kserve.OUTPUT_NAME, *(output.name for output in self.outputs))

    def admit(self, count: int) -> None:
        self.budgets.check(self.budget, count, "the KServe request")


def read(request: Request) -> tuple[str, Any]:
    """``V1``/``V2`` for a KServe request, with its parsed JSON body (for ``inbound``), else ``PLAIN`` and None
    (reads the body: call it under the request's guard)."""
    return kserve.read(request.payload)


def spoken_when_unreadable(request: Request) -> str:
    """The protocol a request that could not be read is answered in: v2 when it used Triton's binary
    extension (its client reads v2 errors), else the task's own."""
    return V2 if binary_tensors.HEADER_LENGTH in request.headers else PLAIN


def unpacked(request: Request) -> Request:
    """The request with Triton's binary tensor extension, if it uses it, read into a plain v2 JSON body; a
    compressed body is refused (``UnsupportedMediaType``) before anything reads it."""
    check_encoding(request.headers)
    length = request.headers.get(binary_tensors.HEADER_LENGTH)
    if length is None:
        return request
    return replace(request, payload=binary_tensors.unpack(request.payload, length))


def check_encoding(headers: Mapping[str, str]) -> None:
    """Neither engine inflates a request body: one sent with a ``Content-Encoding`` (gzip, br, ...) is a 415
    naming the header, not a confusing failure to read its compressed bytes."""
    encoding = str(headers.get("content-encoding", "")).strip()
    if encoding.lower() not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding: {encoding}: compressed request bodies are not accepted; "
                                   "send the body uncompressed, without a Content-Encoding header")


def inbound(request: Request, protocol: str, rules: InstanceRules, body: Any = None) -> Inbound:
    """The request's payloads: itself for a plain request, one per instance for a KServe request (``body``: its
    JSON body as ``read`` returned it)."""
    return kserve.expand(request.payload, protocol, rules.admit, rules.named, rules.output_names, rules.inputs, body)


def answer_body(request: Inbound, answers: Sequence[Any], served: Served, request_id: str | None, rules: InstanceRules) -> Any:
    """The body of a request whose payloads were all answered (``answers``: one per payload, in order)."""
    if request.protocol == V1:
        return kserve.v1_response(answers)
    if request.protocol == V2:
        return kserve.v2_response(answers, served.name, served.version, request_id, rules.outputs, request.outputs)
    return answers[0]


def failure_body(protocol: str, error: Mapping[str, Any]) -> Any:
    """The body of a refused request, in every protocol: the error with KServe's ``error`` key."""
    return kserve.error_response(error)
