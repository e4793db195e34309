"""One instance as the tasks read it: a small typed value, and the extraction of each kind of input from it.

A ``Payload`` is one request's input, or one KServe instance of it, as named fields, each with its content
type. Both engines hand the core the same fields, as the request carried them: ``body`` for a raw body,
one entry per form field of ``multipart/form-data``, and JSON parsed or as bytes (TorchServe's frontend
parses exactly ``application/json`` itself; the KServe runtime leaves it to ``decode_json_bytes``). A field's
value is typed: ``bytes`` (a raw body, an image, a v2 ``BYTES`` element), ``str`` (text), a JSON value, or
a numpy array (a numeric v2 tensor's row, of its datatype and shape: ``protocols/codec.py``). This module
turns fields into (binary input, options), texts, or the one input, with a clear 4xx for every way they can
be wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import BadInput, PayloadTooLarge, UnsupportedMediaType
from .limits import REQUEST_BYTES

if TYPE_CHECKING:
    from .budgets import Budgets

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "RAW_FIELDS", "BinaryInput", "Payload", "binary_input", "decode_base64", "decode_json_bytes",
           "parse_int_option", "parse_number_option", "sole_input", "text_input"]

RAW_FIELDS = ("body", "data")
MAX_JSON_BYTES = REQUEST_BYTES  # TorchServe refuses more before us
MAX_JSON_DEPTH = 32  # containers inside containers; a KServe v2 image tensor nests 4 inside 3
BINARY_CONTENT_TYPES = ("application/octet-stream", "")
DATA_URL_MARK = ";base64,"


@dataclass(frozen=True)
class Payload:
    """One request or instance: its fields (name -> bytes | str | JSON value | numpy array) and each field's content type."""

    fields: Mapping[str, Any]
    content_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BinaryInput:
    data: bytes
    options: Mapping[str, Any]


def binary_input(payload: Payload, data_keys: tuple[str, ...], option_keys: tuple[str, ...]) -> BinaryInput:
    """Find the binary input (raw body, form field, or base64 in JSON) and the options beside it.

    ``data_keys`` name the JSON / form fields that may carry the data (e.g. ``("image",)``);
    ``option_keys`` the per-request options (e.g. ``("top_k",)``). Any other field is an error, so a
    typo such as ``topk`` is reported instead of silently ignored.
    """
    allowed = RAW_FIELDS + data_keys
    options = {k: v for k, v in payload.fields.items() if k in option_keys}
    data_fields = [k for k in payload.fields if k in allowed]
    unknown = sorted(k for k in payload.fields if k not in allowed and k not in option_keys)
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r}; expected the data in one of {list(allowed)} and options {list(option_keys)}")
    if len(data_fields) != 1:
        found = "none" if not data_fields else ", ".join(data_fields)
        raise BadInput(f"expected exactly one data field ({' or '.join(allowed)}), found {found}")
    name = data_fields[0]
    value = _as_text(decode_json_bytes(name, payload.fields[name], payload.content_types.get(name, "")),
                     payload.content_types.get(name, ""))
    if isinstance(value, dict):
        return _from_json_object(value, data_keys, option_keys, options)
    if isinstance(value, list):
        raise BadInput("a JSON list is not accepted here: send one input per request (TorchServe batches requests)")
    if isinstance(value, str):
        ctype = payload.content_types.get(name) or "text"
        if DATA_URL_MARK in value[:100]:
            return BinaryInput(decode_base64(f"field {name!r}", value), options)
        if "json" in ctype.lower():  # a JSON string body: base64 (also how a KServe instance carries an image)
            return BinaryInput(decode_base64("the JSON string", value), options)
        raise UnsupportedMediaType(f"content type {ctype!r} carries text, not binary data; send the raw bytes or base64 in JSON")
    return BinaryInput(_checked_binary(name, value, payload.content_types.get(name, "")), options)


def decode_json_bytes(name: str, value: Any, content_type: str) -> Any:
    """A field's JSON, within the limits: bytes declared JSON are parsed here (TorchServe parses only
    exact ``application/json``, and forwards the bytes when its own parse fails); a value TorchServe
    already parsed is checked for depth. 413 beyond ``MAX_JSON_BYTES``, 400 beyond ``MAX_JSON_DEPTH``."""
    if isinstance(value, (bytes, bytearray)) and "json" in content_type.lower():
        if len(value) > MAX_JSON_BYTES:
            raise PayloadTooLarge(f"field {name!r}: {len(value)} bytes of JSON, more than the limit of {MAX_JSON_BYTES}")
        try:
            value = json.loads(bytes(value).decode("utf-8"))
        except RecursionError as err:
            raise _too_deep(name) from err
        except (UnicodeDecodeError, ValueError) as err:
            raise BadInput(f"field {name!r} is declared {content_type!r} but is not valid JSON: {err}") from err
    if isinstance(value, (dict, list)) and _depth_exceeds(value, MAX_JSON_DEPTH):
        raise _too_deep(name)
    return value


def _too_deep(name: str) -> BadInput:
    return BadInput(f"field {name!r}: JSON nested more than {MAX_JSON_DEPTH} levels deep, the limit; send flatter JSON")


def _depth_exceeds(value: dict | list, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep: one level at a time (iterative, so any depth is safe to
    check; one pass over the containers, linear in the JSON's size)."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            return True
        nested: list[dict | list] = []
        for node in level:
            nested += [child for child in (node.values() if isinstance(node, dict) else node) if isinstance(child, (dict, list))]
        level, depth = nested, depth + 1
    return False


def _as_text(value: Any, content_type: str) -> Any:
    """Bytes sent as ``text/*`` read as the text they are (as TorchServe's frontend hands them over), else unchanged."""
    if isinstance(value, (bytes, bytearray)) and content_type.split(";", 1)[0].strip().lower().startswith("text/"):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _checked_binary(name: str, value: Any, content_type: str) -> bytes:
    base = content_type.split(";", 1)[0].strip().lower()
    if base and not (base.startswith(("image/", "audio/", "video/")) or base in BINARY_CONTENT_TYPES):
        raise UnsupportedMediaType(
            f"content type {content_type!r} of field {name!r} is not supported; send image bytes as "
            "image/* or application/octet-stream, a multipart form field, or base64 in JSON"
        )
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise BadInput("the request body is empty: send the input bytes")
    return bytes(value)


def _from_json_object(obj: dict, data_keys: tuple[str, ...], option_keys: tuple[str, ...], options: dict) -> BinaryInput:
    unknown = sorted(k for k in obj if k not in (*data_keys, "data", *option_keys))
    if unknown:
        raise BadInput(f"unknown JSON key {unknown[0]!r}; expected one of {list(data_keys)} (base64) and options {list(option_keys)}")
    present = [k for k in (*data_keys, "data") if k in obj]
    if len(present) != 1:
        raise BadInput(f"the JSON object needs exactly one of {list(data_keys)} holding base64 data")
    key = present[0]
    if not isinstance(obj[key], str):
        raise BadInput(f"JSON key {key!r} must be a base64 string, got {type(obj[key]).__name__}")
    merged = {**options, **{k: obj[k] for k in option_keys if k in obj}}
    return BinaryInput(decode_base64(f"JSON key {key!r}", obj[key]), merged)


def decode_base64(where: str, text: str) -> bytes:
    """Standard base64 (or a ``data:...;base64,`` URL) -> bytes; ``where`` names it in errors."""
    if DATA_URL_MARK in text[:100]:
        text = text.split(DATA_URL_MARK, 1)[1]
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadInput(f"{where} is not valid base64 ({err}); encode the file bytes with standard base64") from err
    if not data:
        raise BadInput(f"{where} decodes to zero bytes: send the input's base64")
    return data


def parse_int_option(name: str, value: Any, low: int, high: int, source: str) -> int:
    """An integer option from JSON, a form field or the query string, within [low, high]."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        number = int(text) if text.lstrip("+-").isdigit() else None
    if number is None or not low <= number <= high:
        raise BadInput(f"{name} must be an integer from {low} to {high} ({source}), got {value!r}")
    return number


def parse_number_option(name: str, value: Any, low: float, high: float, source: str) -> float:
    """A number option from JSON, a form field or a v2 parameter, within [low, high]."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not low <= number <= high:  # NaN is never within
        raise BadInput(f"{name} must be a number from {low:g} to {high:g} ({source}), got {value!r}")
    return number


def sole_input(payload: Payload, hint: str, default_type: str = "") -> tuple[str, Any, str]:
    """The request's one input field (``body``, or a form field ``data``): its name, its value (JSON
    bodies parsed) and its content type. Any other field, or not exactly one, is a 400 with ``hint``."""
    unknown = sorted(name for name in payload.fields if name not in RAW_FIELDS)
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r}; {hint}")
    present = [name for name in RAW_FIELDS if name in payload.fields]
    if len(present) != 1:
        raise BadInput(hint)
    name = present[0]
    content_type = payload.content_types.get(name, "") or default_type
    return name, _as_text(decode_json_bytes(name, payload.fields[name], content_type), content_type), content_type


def text_input(payload: Payload, budgets: Budgets) -> tuple[list[str], bool]:
    """The request's text(s): ``text/plain``, a JSON string, or a JSON list of strings, each within the
    budgets ``texts`` and ``text_chars``.

    Returns the texts and whether the request was a single text (not a list)."""
    _, value, content_type = sole_input(payload, "send the text as the request body (text/plain), a JSON string, "
                                                 "or a JSON list of strings")
    if isinstance(value, (bytes, bytearray)):
        value = _utf8(bytes(value), content_type)
    if isinstance(value, str):
        return [_checked_text(value, "the text", budgets)], True
    if not isinstance(value, list):
        raise BadInput(f"expected a JSON string or a list of strings, got a JSON {type(value).__name__}")
    if not value:
        raise BadInput("the JSON list is empty: send one or more texts")
    budgets.check("texts", len(value), "the request")
    return [_checked_text(item, f"texts[{index}]", budgets) for index, item in enumerate(value)], False


def _utf8(data: bytes, content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base and not base.startswith("text/"):
        raise UnsupportedMediaType(f"content type {content_type!r} is not text; send text/plain or application/json")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"the body is not valid UTF-8 (byte {err.start}: {data[err.start:err.start + 1]!r}); send UTF-8 text") from err


def _checked_text(value: Any, where: str, budgets: Budgets) -> str:
    if not isinstance(value, str):
        raise BadInput(f"{where} is a JSON {type(value).__name__}, expected a string")
    budgets.check("text_chars", len(value), where)
    try:
        value.encode("utf-8")  # JSON's \ud800 escapes decode to lone surrogates, which no tokenizer takes
    except UnicodeEncodeError as err:
        raise BadInput(f"{where}: character {err.start} is a lone surrogate ({value[err.start]!r}), not Unicode text; "
                       "send valid UTF-8") from err
    if not value.strip():
        raise BadInput(f"{where} is empty or only whitespace")
    return value
