"""The one exception root of the run-time code, each class carrying the HTTP status a client sees.

    HandlerError (500)                 -- root; anything the handler raises on purpose
    ├── BadInput (400)                 -- the request is malformed: empty body, bad base64, bad option
    │   ├── PayloadTooLarge (413)      -- too many pixels (decompression-bomb limit)
    │   ├── UnsupportedMediaType (415) -- a content type or an image format we cannot read
    │   └── UnprocessableInput (422)   -- well-formed, but the model cannot take it
    └── ArchiveError (500)             -- the archive is broken or tampered with; not the client's fault

Messages name the offending key or value and, where there is one, the fix. Every refusal's body, on both
engines, is ``refusal_body``: the Open Inference Protocol's ``error`` (what tritonclient and the kserve SDK
show) beside TorchServe's ``code``/``type``/``message``.
"""

from __future__ import annotations

__all__ = [
    "ArchiveError",
    "BadInput",
    "HandlerError",
    "PayloadTooLarge",
    "UnprocessableInput",
    "UnsupportedMediaType",
    "error_body",
    "refusal_body",
]


class HandlerError(Exception):
    """Root of every error the handlers raise on purpose."""

    status: int = 500
    phrase: str = "Internal Server Error"


class BadInput(HandlerError):
    status = 400
    phrase = "Bad Request"


class PayloadTooLarge(BadInput):
    status = 413
    phrase = "Payload Too Large"


class UnsupportedMediaType(BadInput):
    status = 415
    phrase = "Unsupported Media Type"


class UnprocessableInput(BadInput):
    status = 422
    phrase = "Unprocessable Entity"


class ArchiveError(HandlerError):
    status = 500
    phrase = "Internal Server Error"


def refusal_body(status: int, kind: str, message: str) -> dict:
    """The JSON body of every refusal: OIP's ``{"error": message}`` and TorchServe's ``{code, type, message}``."""
    return {"error": message, "code": status, "type": kind, "message": message}


def error_body(error: HandlerError) -> dict:
    """The JSON body of an error response (``refusal_body``), with what the error names beside its message
    (``details``: a pipeline's failing step and node)."""
    return {**refusal_body(error.status, type(error).__name__, str(error)), **getattr(error, "details", {})}
