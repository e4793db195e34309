"""What the REST app answers when kserve's routes (health, metadata, readiness) or a model raise.

kserve's own handlers log a full traceback for every refusal (each readiness poll while the store loads)
and answer some with a Python repr (a 500 ``"Refused : ..."`` for a model's metadata while it loads).
These answer with a JSON body in KServe's shape plus TorchServe's (``error``, and ``code``/``type``/
``message``) and log one line; only an unexpected exception is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from kserve import errors as kserve_errors
from starlette.requests import Request
from starlette.responses import Response

from .model import Refused
from .rest import json_response

__all__ = ["add_error_handlers", "kserve_body"]

log = logging.getLogger(__name__)

KNOWN = ((kserve_errors.InvalidInput, 400), (kserve_errors.ModelNotFound, 404), (kserve_errors.ModelNotReady, 503),
         (kserve_errors.ServerNotLive, 503), (kserve_errors.ServerNotReady, 503), (kserve_errors.InferenceError, 500),
         (NotImplementedError, 501))
MESSAGES = {kserve_errors.ServerNotReady: "Server is not ready: not every model of the store is loaded yet"}


def kserve_body(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": message, "code": status, "type": kind, "message": message}


def add_error_handlers(app: FastAPI) -> None:
    for error, status in KNOWN:
        app.add_exception_handler(error, _known(status))
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(Exception, _unexpected)


def _known(status: int) -> Any:
    async def handler(request: Request, error: Exception) -> Response:
        message = MESSAGES.get(type(error)) or str(error) or type(error).__name__
        log.info("%s %s: %d %s", request.method, request.url.path, status, message)
        return json_response(status, kserve_body(status, type(error).__name__, message))

    return handler


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    message = str(error.body.get("message") or error)
    log.info("%s %s: %d %s", request.method, request.url.path, error.status, message)
    return json_response(error.status, kserve_body(error.status, str(error.body.get("type") or "Refused"), message))


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("%s %s: unexpected %s", request.method, request.url.path, type(error).__name__, exc_info=error)
    message = f"internal error in the runtime ({type(error).__name__}); see the server log"
    return json_response(500, kserve_body(500, "InternalServerError", message))
