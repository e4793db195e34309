"""The REST inference routes: each request's raw body and headers to the archive's handler, as TorchServe passes them.

kserve's own REST routes parse a body before a model sees it (pydantic for v2, JSON for v1), so a malformed
request would be refused in kserve's words, and Triton's binary extension decoded by kserve. These routes,
registered before kserve's, hand the body untouched to the same protocol code TorchServe's adapter uses: the
same request gets the same status and body on both engines. They are:

    POST /v2/models/{name}/infer                 (and .../versions/{version}/infer)   Open Inference Protocol
    POST /v1/models/{name}:predict                                                     KServe v1
    POST|PUT /predictions/{name}                 (and .../{version})                  TorchServe's own route (curl -T PUTs)

A version in the path other than the archive's is a 404 (as TorchServe answers), never another version's
answer. ``multipart/form-data`` bodies become one field per form part, as TorchServe splits them, each value its raw
bytes with its content type (the core reads JSON and text itself, whatever an engine hands it); a form of more than ``MAX_FORM_FIELDS``
parts is a 400 naming the limit before the rest is read (a task takes its input and a few options). Every
refusal has the OIP error shape (``refusal_body``). ``GET /ping`` answers as TorchServe's does (``Healthy`` once
every model is loaded). Health, metadata and the rest are kserve's routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...core.errors import refusal_body
from .model import ArchiveModel, Refused, not_served

__all__ = ["MAX_FORM_FIELDS", "PING_PATH", "add_inference_routes", "add_ping_route", "add_version_routes", "error_response",
           "json_response"]

OIP_PATHS = ("/v2/models/{model_name}/infer", "/v2/models/{model_name}/versions/{model_version}/infer",
             "/v1/models/{model_name}:predict")
TORCHSERVE_PATHS = ("/predictions/{model_name}", "/predictions/{model_name}/{model_version}")  # POST, and PUT (curl -T)
PING_PATH = "/ping"
MAX_FORM_FIELDS = 1000  # parts of one multipart form, files or not (Starlette's default, declared here)


def add_inference_routes(app: FastAPI, find: Callable[[str], ArchiveModel | None]) -> None:
    """Put the inference routes first on ``app`` (before kserve's, so these answer); ``find`` looks a model up by name."""

    async def infer(request: Request) -> Response:
        name = request.path_params["model_name"]
        model = find(name)
        if model is None:
            return json_response(404, not_served(name).refusal())
        return await _answer(model, request, _protocol(request.url.path))

    # plain Starlette routes, ahead of every other: FastAPI's dependency machinery has nothing to do here
    app.router.routes[0:0] = [Route(path, infer, methods=["POST"]) for path in OIP_PATHS] + \
        [Route(path, infer, methods=["POST", "PUT"]) for path in TORCHSERVE_PATHS]


def add_ping_route(app: FastAPI, ready: Callable[[], Awaitable[bool]]) -> None:
    """TorchServe's health route: 200 ``{"status": "Healthy"}`` once every model is loaded, else 500 ``Unhealthy``."""

    async def ping(request: Request) -> Response:
        healthy = await ready()
        return json_response(200 if healthy else 500, {"status": "Healthy" if healthy else "Unhealthy"})

    app.router.routes.insert(0, Route(PING_PATH, ping, methods=["GET"]))


def add_version_routes(app: FastAPI, find: Callable[[str], ArchiveModel | None], endpoints: Any) -> None:
    """``GET /v2/models/NAME/versions/V`` and ``.../ready`` first on ``app``: kserve's own answer 501 for any
    version; these answer as the unversioned routes (``endpoints``: kserve's ``V2Endpoints``) for the served
    version and 404 for any other."""

    async def versioned(request: Request) -> Response:
        name = request.path_params["model_name"]
        model = find(name)
        if model is None:
            return json_response(404, not_served(name).refusal())
        model.check_version(request.path_params["model_version"])
        if request.url.path.endswith("/ready"):
            answer = await endpoints.model_ready(name)
        else:
            answer = await endpoints.model_metadata(name)
        return json_response(200, answer.model_dump(mode="json"))

    paths = ("/v2/models/{model_name}/versions/{model_version}", "/v2/models/{model_name}/versions/{model_version}/ready")
    app.router.routes[0:0] = [Route(path, versioned, methods=["GET"]) for path in paths]


def _protocol(path: str) -> str:
    return "v2" if path.startswith("/v2/") else "v1" if path.startswith("/v1/") else "predictions"


async def _answer(model: ArchiveModel, request: Request, protocol: str) -> Response:
    try:
        model.check_version(request.path_params.get("model_version"))
        fields, content_types = await _fields(request)
        answer = await model.answer(model.request(fields, content_types, request.headers), protocol)
    except Refused as refused:
        return json_response(refused.status, refused.refusal())
    return Response(json.dumps(answer.body, ensure_ascii=False, separators=(",", ":")), answer.status,
                    media_type=answer.content_type)


async def _fields(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """The request's fields: ``body`` (raw), or one field per multipart form part, as TorchServe splits them."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return {"body": await request.body()}, {"body": content_type}
    fields: dict[str, Any] = {}
    types: dict[str, str] = {}
    try:
        form = await request.form(max_files=MAX_FORM_FIELDS, max_fields=MAX_FORM_FIELDS)
    except Exception as err:
        raise Refused(400, _body(400, "BadInput", f"the multipart/form-data body cannot be read: {err}")) from err
    for name, value in form.multi_items():
        if hasattr(value, "read"):
            types[name] = value.content_type or ""
            fields[name] = await value.read()
        else:
            fields[name], types[name] = value, "text/plain"
    return fields, types



def error_response(status: int, kind: str, message: str) -> Response:
    return json_response(status, _body(status, kind, message))


def _body(status: int, kind: str, message: str) -> dict[str, Any]:
    return refusal_body(status, kind, message)


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, headers=dict(headers) if headers else None,
                    media_type="application/json")
