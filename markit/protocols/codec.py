"""KServe's inference protocols, v1 and v2 (the Open Inference Protocol), as pure functions.

A request whose JSON body is a KServe request is expanded into *instances*; each instance becomes
the ``Payload`` that the task's own single-request JSON body would be, so the task decodes it
exactly as it decodes ``/predictions`` requests. The answers are regrouped into the protocol's
response. Nothing here knows about an engine or a batch (``protocol.py`` routes requests here).

    v1 request   {"instances": [i0, i1, ...]}
    v1 response  {"predictions": [a0, a1, ...]}        a_k: the task's /predictions answer for i_k

    v2 request   {"id"?, "model_name"?, "model_version"?, "inputs": [tensor, ...], "parameters"?, "outputs"?}
                 tensor = {"name", "shape", "datatype", "data", "parameters"?}
    v2 response  {"model_name", "model_version", "id",
                  "outputs": [{"name": "answer", "datatype": "BYTES", "shape": [N], "data": [json(a0), ...]},
                              the task's typed outputs (``typed_outputs.py``), e.g. label, probability]}

A body is a KServe request when it is a JSON object with the key ``instances`` (v1) or ``inputs``
(v2); these two keys are therefore reserved at the top level of every task's JSON body. A body sent
without a Content-Type that is a JSON object is read as JSON for this (tritonclient sends its JSON
requests so): a KServe request is never taken for a raw body, e.g. a text to embed.

v1 instances: each element of ``instances`` is a JSON value decoded like the task's JSON body;
``{"b64": "<base64>"}`` (KServe's binary convention) stands for raw bytes, like a raw body.

v2 instances: the first dimension of every input tensor counts the instances (all tensors agree). A task
declares its inputs (``declared.py``); the tensors are checked against them (name, datatype, shape), and a
tensor of a declared option (e.g. ``top_k``) gives that option per instance, as a request parameter gives it
for all. With one other tensor (and a task that does not name its inputs) instance k is row k of that
tensor; with several, or a task whose inputs are named (regression features), instance k is the object
``{tensor name: row k}``. ``data`` may be flat (row-major) or nested; its element count must match ``shape``.

A numeric tensor is typed on every route: its row reaches the task as a numpy array of its datatype, with the
instance's shape (0-d for a scalar row), whether it came as JSON numbers (checked one by one, then converted
once), Triton's binary extension or gRPC (already arrays: never turned into Python numbers). An option's row
is a plain JSON value.

A ``BYTES`` element is bytes, on every route, as Triton's and KServe's own servers read it: in JSON a string
stands for its UTF-8 bytes (no base64), in Triton's binary extension and in gRPC it is the raw bytes. An
instance that is one ``BYTES`` element is a raw body to the task (an image's bytes, a text's UTF-8). Only a
tensor with ``parameters: {"content_type": "base64"}`` (MLServer's convention, opt-in) carries base64 text in
its JSON strings, so that a JSON client can send bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.declared import DATATYPES, NUMPY_TYPES, Input
from ..core.declared import check as check_declared
from ..core.errors import BadInput, PayloadTooLarge
from ..core.payload import RAW_FIELDS, Payload, decode_base64, decode_json_bytes
from .typed_outputs import TypedOutput

__all__ = [
    "MAX_INPUTS",
    "Admit",
    "OUTPUT_NAME",
    "PLAIN",
    "V1",
    "V2",
    "Inbound",
    "check_input_count",
    "error_response",
    "expand",
    "protocol_of",
    "read",
    "v1_payloads",
    "v1_response",
    "v2_answer_data",
    "v2_payloads",
    "v2_response",
]

PLAIN, V1, V2 = "plain", "v1", "v2"
Admit = Callable[[int], None]  # checks a request's count of instances against the model's budget
OUTPUT_NAME = "answer"
JSON_TYPE = "application/json"
V1_KEYS = frozenset({"instances"})
V2_KEYS = frozenset({"id", "inputs", "parameters", "outputs", "model_name", "model_version"})  # the kserve SDK sends the names
# request parameters standard clients send by default that change nothing here: the answer is JSON (which
# tritonclient reads whatever binary_data_output asked), and TorchServe's response_timeout bounds the time
CLIENT_PARAMETERS = frozenset({"binary_data_output", "timeout"})
TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
BYTES_CONTENT_TYPES = ("str", "base64")
V1_FORM = '{"instances": [...]}'
TENSOR_FORM = "{name, shape, datatype, data}"
# input tensors in one v2 request: a model's inputs are a handful (regression: one per feature), and every
# count, check and copy below is linear in it, so this bounds a request's parsing, not a model's width
MAX_INPUTS = 1024


def _int_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


INT_RANGES = {f"{'' if signed else 'U'}INT{bits}": _int_range(bits, signed) for bits in (8, 16, 32, 64) for signed in (True, False)}


@dataclass(frozen=True)
class Inbound:
    """One request's inputs and the protocol its answer goes back in.

    ``payloads`` holds one payload for a plain request, one per instance for a KServe request."""

    protocol: str
    payloads: tuple[Payload, ...]
    request_id: str | None = None
    outputs: tuple[str, ...] | None = None  # the v2 outputs the request asked for (None: all)

    def label(self, position: int) -> str:
        """How an error names the instance at ``position`` ('' for a plain request)."""
        if self.protocol == V1:
            return f"instances[{position}]"
        return f"instance {position}" if self.protocol == V2 else ""


# -- requests ------------------------------------------------------------------------------
def protocol_of(payload: Payload) -> str:
    """``V1`` or ``V2`` when a request's JSON body is a KServe request, else ``PLAIN``."""
    return read(payload)[0]


def read(payload: Payload) -> tuple[str, Any]:
    """The request's protocol and, for a KServe request, its JSON body (parsed and checked once: ``expand`` takes
    it), else None."""
    body = _json_body(payload)
    if isinstance(body, Mapping) and "instances" in body:
        return V1, body
    return (V2, body) if isinstance(body, Mapping) and "inputs" in body else (PLAIN, None)


def expand(payload: Payload, protocol: str, admit: Admit, named: bool = False, outputs: Sequence[str] = (OUTPUT_NAME,),
           inputs: Sequence[Input] = (), body: Mapping[str, Any] | None = None) -> Inbound:
    """A request of the given protocol -> its instances (a plain request is its own one payload); ``body``: its
    JSON body as ``read`` returned it (None: parsed here).

    ``admit`` checks the count of instances against the model's budget (raising its 413) before any is
    unpacked; ``named``: v2 instances are objects keyed by tensor name even with one tensor (regression);
    ``outputs``: the v2 output names the model declares (a request may ask for any of them); ``inputs``: the
    task's declared inputs (``declared.py``), which a v2 request's tensors are checked against (none: not
    checked); its options may also come as request parameters (each instance's payload gets them as fields,
    as a form would carry them)."""
    if protocol == PLAIN:
        return Inbound(PLAIN, (payload,))
    body = _json_body(payload) if body is None else body
    if protocol == V2:
        return _v2_request(body, named, admit, tuple(outputs), tuple(inputs))
    unknown = sorted(set(body) - V1_KEYS)
    if unknown:
        raise BadInput(f"KServe v1 request: unknown key {unknown[0]!r}; a v1 request is {V1_FORM} "
                       "(the v2 protocol uses 'inputs')")
    return Inbound(V1, v1_payloads(body["instances"], admit))


def v1_payloads(instances: Any, admit: Admit) -> tuple[Payload, ...]:
    """The elements of a v1 ``instances`` list -> one payload each."""
    if not isinstance(instances, list) or not instances:
        raise BadInput(f"KServe v1 request: 'instances' must be a non-empty JSON list, one element per input; "
                       f"got {_kind(instances)}")
    admit(len(instances))
    return tuple(_instance(value, f"instances[{index}]") for index, value in enumerate(instances))


def _instance(value: Any, where: str) -> Payload:
    if isinstance(value, Mapping) and set(value) == {"b64"}:
        if not isinstance(value["b64"], str):
            raise BadInput(f"{where}.b64 must be a base64 string, got {_kind(value['b64'])}")
        return _raw(decode_base64(f"{where}.b64", value["b64"]))
    return Payload(fields={"body": value}, content_types={"body": JSON_TYPE})


def _raw(data: bytes) -> Payload:
    """Bytes as a raw body of no declared type (each task reads them as it reads a raw body)."""
    return Payload(fields={"body": data}, content_types={"body": ""})


def _v2_request(body: Mapping[str, Any], named: bool, admit: Admit, outputs: tuple[str, ...], inputs: tuple[Input, ...]) -> Inbound:
    unknown = sorted(set(body) - V2_KEYS)
    if unknown:
        raise BadInput(f"KServe v2 request: unknown key {unknown[0]!r}; expected {sorted(V2_KEYS)}")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadInput(f"KServe v2 request: 'id' must be a string, got {_kind(request_id)}")
    given = _options(body.get("parameters"), {item.name: item for item in inputs if not item.required})
    requested = _requested_outputs(body.get("outputs"), outputs)
    payloads = v2_payloads(body["inputs"], admit, named, declared=inputs)
    if given:
        both = sorted(set(given) & set(payloads[0].fields))
        if both:
            raise BadInput(f"KServe v2 request: the option {both[0]!r} is given both as a request parameter and as an input "
                           "tensor; send one")
        payloads = tuple(Payload({**payload.fields, **given}, payload.content_types) for payload in payloads)
    return Inbound(V2, payloads, request_id=request_id, outputs=requested)


def _options(parameters: Any, options: Mapping[str, Input]) -> dict[str, Any]:
    """The task's options among a v2 request's parameters, each a JSON value of its declared datatype; 400 for
    any other parameter but the ones standard clients send by default."""
    if parameters is not None and not isinstance(parameters, Mapping):
        raise BadInput(f"KServe v2 request: 'parameters' must be an object, got {_kind(parameters)}")
    unknown = sorted(set(parameters or {}) - CLIENT_PARAMETERS - set(options))
    if unknown:
        takes = f"its options {list(options)}, and " if options else ""
        raise BadInput(f"KServe v2 request: parameter {unknown[0]!r} is not one this model takes "
                       f"(it takes only {takes}{sorted(CLIENT_PARAMETERS)}, which change nothing); remove it")
    given = {name: value for name, value in (parameters or {}).items() if name in options}
    for name, value in given.items():
        if not _fits(value, options[name].datatype):
            raise BadInput(f"KServe v2 request: parameter {name!r} is {_kind(value)}, but this model expects a value of "
                           f"datatype {options[name].datatype} ({options[name].description})")
    return given


def _requested_outputs(outputs: Any, declared: tuple[str, ...]) -> tuple[str, ...] | None:
    """The output names a v2 request asks for (None: it asks for none, so gets all), each one the model declares."""
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise BadInput(f"KServe v2 request: 'outputs' must be a list of {{name}} objects, got {_kind(outputs)}")
    names = []
    for index, output in enumerate(outputs):
        name = output.get("name") if isinstance(output, Mapping) else None
        if name not in declared:
            raise BadInput(f"KServe v2 request: outputs[{index}] asks for {name!r}; this model's outputs are "
                           f"{list(declared)} ({OUTPUT_NAME!r}: one JSON answer per instance)")
        names.append(name)
    return tuple(dict.fromkeys(names))  # each once, however often asked


@dataclass(frozen=True)
class _Tensor:
    """One input tensor of a request: a numeric one as an array of its datatype and shape, a BYTES one as its
    elements flat (each ``bytes``)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray | list[bytes]

    @property
    def rows(self) -> int:
        return self.shape[0]

    def row(self, index: int) -> Any:
        """Row ``index`` (the instance's part of this tensor): an array of the instance's shape, or for BYTES an
        element or a nested list of them."""
        if isinstance(self.values, np.ndarray):
            return self.values[index, ...]  # a scalar row too stays an array (0-d)
        inner = self.shape[1:]
        size = math.prod(inner)
        chunk = self.values[index * size:(index + 1) * size]
        return _nest(chunk, inner) if inner else chunk[0]


def v2_payloads(inputs: Any, admit: Admit, named: bool = False, declared: Sequence[Input] = ()) -> tuple[Payload, ...]:
    """v2 input tensors -> one payload per instance (see the module docstring), checked against the task's
    ``declared`` inputs (none: not checked)."""
    if not isinstance(inputs, list) or not inputs:
        raise BadInput(f"KServe v2 request: 'inputs' must be a non-empty list of tensors {TENSOR_FORM}; "
                       f"got {_kind(inputs)} (a KServe v1 request is {V1_FORM})")
    check_input_count(len(inputs))
    headers = [_header(value, f"inputs[{index}]") for index, value in enumerate(inputs)]
    _check_unique([name for name, _, _ in headers])
    if declared:  # before any data is read: a tensor of another datatype is named as such, not by its first element
        check_declared(headers, declared)
    tensors = [_tensor(value, header, f"inputs[{index}]")
               for index, (value, header) in enumerate(zip(inputs, headers, strict=True))]
    first = tensors[0]
    for index, tensor in enumerate(tensors[1:], 1):
        if tensor.rows != first.rows:
            raise BadInput(f"KServe v2 request: inputs[{index}] ({tensor.name!r}) has {tensor.rows} rows but inputs[0] "
                           f"({first.name!r}) has {first.rows}; the first dimension counts the instances")
    if first.rows == 0:
        raise BadInput("the KServe request holds no instances; send at least one")
    admit(first.rows)
    optional = {item.name for item in declared if not item.required}
    data = [tensor for tensor in tensors if tensor.name not in optional]
    options = [tensor for tensor in tensors if tensor.name in optional]
    payloads = []
    for index in range(first.rows):
        body = _body(data, index, named)
        given = {tensor.name: _plain(tensor.row(index)) for tensor in options}
        payloads.append(Payload({**body.fields, **given}, body.content_types))
    return tuple(payloads)


def _body(tensors: list[_Tensor], index: int, named: bool) -> Payload:
    """Instance ``index``'s body: one tensor's row (a BYTES element as a raw body), or ``{name: row}`` as JSON."""
    if not named and len(tensors) == 1:
        row = tensors[0].row(index)
        if isinstance(row, bytes):
            return _raw(row)
        return Payload({"body": _instance_row(tensors[0], index)}, {"body": JSON_TYPE})
    return Payload({"body": {tensor.name: _instance_row(tensor, index) for tensor in tensors}}, {"body": JSON_TYPE})


def _instance_row(tensor: _Tensor, index: int) -> Any:
    """Row ``index`` as a task reads it: numbers as an array, BYTES elements as their UTF-8 text."""
    row = tensor.row(index)
    return _text(row, tensor.name) if tensor.datatype == "BYTES" else row


def _plain(row: Any) -> Any:
    """An option's row as a plain JSON value (an option is a number or a few)."""
    return row.tolist() if isinstance(row, np.ndarray) else row


def _text(row: Any, name: str) -> Any:
    if isinstance(row, list):
        return [_text(item, name) for item in row]
    try:
        return row.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"KServe v2 request: input {name!r} holds bytes that are not UTF-8 text (byte {err.start}); "
                       "this model reads that input as JSON text") from err


def check_input_count(count: int) -> None:
    """413 when a v2 request has more than ``MAX_INPUTS`` input tensors (checked before any is read)."""
    if count > MAX_INPUTS:
        raise PayloadTooLarge(f"KServe v2 request: {count} input tensors, more than the limit of {MAX_INPUTS} per request; "
                              "send one tensor per model input (GET /v2/models/NAME lists them), its first dimension "
                              "counting the instances")


def _check_unique(names: list[str]) -> None:
    """400 naming the first input name that appears more than once (one pass: linear in the count)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise BadInput(f"KServe v2 request: input name {name!r} appears more than once; give each tensor its own name")
        seen.add(name)


def _header(value: Any, where: str) -> tuple[str, str, list[int]]:
    """A tensor's name, datatype and shape, each checked."""
    if not isinstance(value, Mapping):
        raise BadInput(f"KServe v2 request: {where} must be a tensor object {TENSOR_FORM}, got {_kind(value)} "
                       f"(a KServe v1 request is {V1_FORM})")
    unknown = sorted(set(value) - TENSOR_KEYS)
    missing = sorted(TENSOR_KEYS - {"parameters"} - set(value))
    if unknown or missing:
        problem = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
        raise BadInput(f"KServe v2 request: {where}: {problem}; a tensor is {TENSOR_FORM} (+ optional parameters)")
    name, shape, datatype = value["name"], value["shape"], value["datatype"]
    if not isinstance(name, str) or not name:
        raise BadInput(f"KServe v2 request: {where}.name must be a non-empty string, got {_kind(name)}")
    where = f"{where} ({name!r})"
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise BadInput(f"KServe v2 request: {where}.shape must be a list of one or more non-negative integers "
                       f"(the first counts the instances), got {json.dumps(shape)[:60]}")
    if datatype not in DATATYPES:
        raise BadInput(f"KServe v2 request: {where}.datatype {datatype!r} is not one of {list(DATATYPES)}")
    return name, datatype, shape


def _tensor(value: Mapping[str, Any], header: tuple[str, str, list[int]], where: str) -> _Tensor:
    """A tensor whose header is read: its data, checked against its shape and datatype."""
    name, datatype, shape = header
    where = f"{where} ({name!r})"
    base64_text = _base64(value.get("parameters"), datatype, where)
    data = value["data"]
    expected = math.prod(shape)
    if isinstance(data, np.ndarray):  # Triton's binary extension or gRPC: already an array
        return _Tensor(name, datatype, tuple(shape), _array(data, datatype, shape, where))
    if not isinstance(data, list):
        raise BadInput(f"KServe v2 request: {where}.data must be a JSON list (flat or nested), got {_kind(data)}")
    elements = _flatten(data)
    if len(elements) != expected:
        raise BadInput(f"KServe v2 request: {where}.data holds {len(elements)} elements but shape {shape} needs {expected}")
    for index, element in enumerate(elements):
        if not _fits(element, datatype):
            raise BadInput(f"KServe v2 request: {where}.data element {index} is {_kind(element)}, not a value of datatype {datatype}")
    if datatype == "BYTES":
        return _Tensor(name, datatype, tuple(shape), [_bytes(element, base64_text, f"{where}.data[{index}]")
                                                       for index, element in enumerate(elements)])
    return _Tensor(name, datatype, tuple(shape), np.asarray(elements, dtype=NUMPY_TYPES[datatype]).reshape(shape))


def _array(data: np.ndarray, datatype: str, shape: list[int], where: str) -> np.ndarray:
    """A numeric tensor that arrived as an array, as one of its datatype and shape (never element by element)."""
    if datatype == "BYTES" or data.dtype != np.dtype(NUMPY_TYPES[datatype]):
        raise BadInput(f"KServe v2 request: {where} holds {data.dtype} values, not {datatype}; send its data as {datatype}")
    if data.size != math.prod(shape):
        raise BadInput(f"KServe v2 request: {where}.data holds {data.size} elements but shape {shape} needs {math.prod(shape)}")
    return data.reshape(shape)


def _bytes(element: str | bytes, base64_text: bool, where: str) -> bytes:
    """A BYTES element as the bytes it stands for: a JSON string's UTF-8 (or, opted in, its base64 decoded)."""
    if base64_text:
        text = element.decode("ascii", "replace") if isinstance(element, bytes) else element
        return decode_base64(where, text)
    if isinstance(element, bytes):
        return element
    try:
        return element.encode("utf-8")
    except UnicodeEncodeError as err:
        raise BadInput(f"KServe v2 request: {where} holds a lone surrogate at character {err.start}, not Unicode text; "
                       "send valid UTF-8 (or bytes in binary, or base64 with parameters.content_type 'base64')") from err


def _base64(parameters: Any, datatype: str, where: str) -> bool:
    """Whether a BYTES tensor's JSON strings are base64 (``parameters.content_type``: 'str', the default, or 'base64')."""
    if parameters is None:
        return False
    if not isinstance(parameters, Mapping):
        raise BadInput(f"KServe v2 request: {where}.parameters must be an object, got {_kind(parameters)}")
    if not parameters:
        return False
    unknown = sorted(set(parameters) - {"content_type"})
    if unknown:
        raise BadInput(f"KServe v2 request: {where}.parameters: {unknown[0]!r} is not supported here; only content_type "
                       f"{list(BYTES_CONTENT_TYPES)} for BYTES (tensor data travels as JSON)")
    content_type = parameters.get("content_type", "str")
    if datatype != "BYTES" or content_type not in BYTES_CONTENT_TYPES:
        raise BadInput(f"KServe v2 request: {where}.parameters.content_type {content_type!r} is not supported for "
                       f"{datatype}; use 'str' or 'base64' on a BYTES tensor")
    return content_type == "base64"


def _fits(element: Any, datatype: str) -> bool:
    if datatype == "BYTES":
        return isinstance(element, (str, bytes))
    if datatype == "BOOL":
        return isinstance(element, bool)
    if isinstance(element, bool) or not isinstance(element, (int, float)):
        return False
    if datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        return isinstance(element, int) and low <= element <= high
    return True


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat


def _nest(flat: Sequence[Any], shape: Sequence[int]) -> list[Any]:
    if len(shape) == 1:
        return list(flat)
    size = math.prod(shape[1:])
    return [_nest(flat[index * size:(index + 1) * size], shape[1:]) for index in range(shape[0])]


def _json_body(payload: Payload) -> Any:
    """The request's parsed JSON body when it is one (a KServe request is a JSON body), else None."""
    if len(payload.fields) != 1:
        return None
    [(name, value)] = payload.fields.items()
    if name not in RAW_FIELDS:
        return None
    content_type = payload.content_types.get(name, "")
    if not content_type and isinstance(value, (bytes, bytearray)) and bytes(value[:64]).lstrip().startswith(b"{"):
        content_type = JSON_TYPE  # a JSON object sent without a Content-Type (tritonclient's JSON requests): read as JSON
    try:
        return decode_json_bytes(name, value, content_type)
    except BadInput:
        return None  # not JSON after all: the task reports it as it reports any malformed body


def _kind(value: Any) -> str:
    """A JSON value described for a message: 'an object', 'an empty list', 'a string "abc"', ..."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return f"{kinds.get(type(value), 'a value')} {text if len(text) <= 40 else text[:36] + '...'}"


# -- responses -----------------------------------------------------------------------------
def v1_response(answers: Sequence[Any]) -> dict[str, Any]:
    return {"predictions": list(answers)}


def v2_answer_data(answers: Sequence[Any]) -> list[str]:
    """One ``BYTES`` element per instance: its answer as JSON text."""
    return [json.dumps(answer, ensure_ascii=False, separators=(",", ":")) for answer in answers]


def v2_response(answers: Sequence[Any], model_name: str, model_version: str, request_id: str | None,
                typed: Sequence[TypedOutput] = (), requested: Sequence[str] | None = None) -> dict[str, Any]:
    """The v2 response: ``answer`` and the task's typed outputs that every answer has a row for, or only the
    ``requested`` ones."""
    data = v2_answer_data(answers)
    outputs = [{"name": OUTPUT_NAME, "shape": [len(data)], "datatype": "BYTES", "data": data}]
    outputs += [tensor for output in typed if (tensor := output.tensor(answers)) is not None]
    if requested is not None:
        outputs = [output for output in outputs if output["name"] in requested]
    return {"model_name": model_name, "model_version": model_version, "id": request_id, "outputs": outputs}


def error_response(body: Mapping[str, Any]) -> dict[str, Any]:
    """Our error body ({code, type, message}) plus KServe's ``error`` key holding the message."""
    return {"error": body["message"], **body}
