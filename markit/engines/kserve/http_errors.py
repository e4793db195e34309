"""What the REST app answers when kserve's routes (health, metadata, readiness) or a model raise, or no route
matches.

kserve's own handlers log a full traceback for every refusal (each readiness poll while the store loads)
and answer some with a Python repr (a 500 ``"Refused : ..."`` for a model's metadata while it loads), and
Starlette answers a path or method it has no route for with ``{"detail": ...}``, which tritonclient cannot
read ("decoding the response: 'error'"). These answer with a JSON body in KServe's shape plus TorchServe's
(``error``, and ``code``/``type``/``message``: ``refusal_body``) and log one line; only an unexpected exception
is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from kserve import errors as kserve_errors
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ...core.errors import refusal_body
from .model import Refused, not_served
from .rest import json_response

__all__ = ["NOT_SERVED", "add_error_handlers"]

log = logging.getLogger(__name__)

KNOWN = ((kserve_errors.InvalidInput, 400), (kserve_errors.ModelNotFound, 404), (kserve_errors.ModelNotReady, 503),
         (kserve_errors.ServerNotLive, 503), (kserve_errors.ServerNotReady, 503), (kserve_errors.InferenceError, 500),
         (NotImplementedError, 501))
MESSAGES = {kserve_errors.ServerNotReady: "Server is not ready: not every model of the store is loaded yet"}
NOT_SERVED = ("this server serves the Open Inference Protocol's health, metadata and inference routes (/v2/health/live, "
              "/v2/health/ready, /v2, /v2/models, /v2/models/NAME[/versions/V][/ready], POST /v2/models/NAME/infer), "
              "KServe v1 (POST /v1/models/NAME:predict) and TorchServe's POST|PUT /predictions/NAME and GET /ping; not "
              "Triton's extensions for model configuration, statistics, repository, shared memory, trace or logging")


def add_error_handlers(app: FastAPI) -> None:
    for error, status in KNOWN:
        app.add_exception_handler(error, _known(status))
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(HTTPException, _no_route)
    app.add_exception_handler(Exception, _unexpected)


def _known(status: int) -> Any:
    async def handler(request: Request, error: Exception) -> Response:
        if isinstance(error, kserve_errors.ModelNotFound) and "model_name" in request.path_params:
            return await _refused(request, not_served(request.path_params["model_name"]))  # as the inference routes say it
        message = MESSAGES.get(type(error)) or str(error) or type(error).__name__
        log.info("%s %s: %d %s", request.method, request.url.path, status, message)
        return json_response(status, refusal_body(status, type(error).__name__, message))

    return handler


async def _refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    message = str(error.body.get("message") or error)
    log.info("%s %s: %d %s", request.method, request.url.path, error.status, message)
    return json_response(error.status, refusal_body(error.status, str(error.body.get("type") or "Refused"), message))


async def _no_route(request: Request, error: Exception) -> Response:
    """Starlette's 404 (no route) and 405 (another method) in the OIP error shape, naming what is served."""
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"{request.method} {request.url.path} is not served here: {NOT_SERVED}"
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow") or (error.headers or {}).get("allow") or "another method"
        message = f"{request.method} {request.url.path}: this route takes {allowed}, not {request.method}"
    else:
        message = str(error.detail)
    log.info("%s %s: %d %s", request.method, request.url.path, error.status_code, message)
    return json_response(error.status_code, refusal_body(error.status_code, type(error).__name__, message),
                         headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("%s %s: unexpected %s", request.method, request.url.path, type(error).__name__, exc_info=error)
    message = f"internal error in the runtime ({type(error).__name__}); see the server log"
    return json_response(500, refusal_body(500, "InternalServerError", message))
