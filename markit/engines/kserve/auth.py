"""Bearer-token authorization for the KServe runtime, over REST and gRPC, with TorchServe's key file.

KServe leaves authentication to the mesh in front of a predictor. This runtime checks a token itself
unless started with ``--no-auth``, so a client written for our TorchServe (``Authorization: Bearer
<inference key>`` from ``key_file.json``) works unchanged: the token lives in the same file and format,
``{"inference": {"key": ...}}``. An existing file is read (e.g. a Kubernetes Secret mounted there); a
missing one is written with a new random token, readable by its owner only. The token does not expire.

Open without a token, for probes: ``/``, ``/v2/health/live``, ``/v2/health/ready``, ``/ping`` (TorchServe asks
for its token there; a probe here needs none), and the gRPC ``ServerLive``/``ServerReady`` calls. ``/metrics``
(model names, per-model traffic) asks for the token too, unless the runtime is started with ``--open-metrics``
(a scraper without the token, on a network you trust). A refusal is a 401 in the OIP error shape.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc.aio import ServerInterceptor

from ...errors import UsageError
from .http_limits import send_refusal

__all__ = ["METRICS_PATH", "OPEN_PATHS", "BearerToken", "TokenInterceptor", "load_or_create_token"]

OPEN_PATHS = frozenset({"/", "/v2/health/live", "/v2/health/ready", "/ping"})
METRICS_PATH = "/metrics"  # open too with --open-metrics
OPEN_RPCS = ("/inference.GRPCInferenceService/ServerLive", "/inference.GRPCInferenceService/ServerReady")
REFUSAL = "Token Authorization failed: send the header 'Authorization: Bearer <key>' with the inference key from {path}"


def load_or_create_token(path: Path) -> str:
    """The inference key in ``path`` (TorchServe's key-file format), writing a new random one if the file is absent."""
    path = Path(path)
    if path.exists():
        try:
            token = json.loads(path.read_text(encoding="utf-8"))["inference"]["key"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"{path}: not a key file with an inference key ({{\"inference\": {{\"key\": ...}}}}): {err!r}") from err
        if not isinstance(token, str) or len(token) < 16:
            raise UsageError(f"{path}: the inference key must be a string of at least 16 characters")
        return token
    token = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({"inference": {"key": token}}, file)
    return token


class BearerToken:
    """Pure ASGI middleware: a request to any path but ``open_paths`` without the token gets a 401 JSON body."""

    def __init__(self, app: Any, token: str, key_file: Path, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self.open_paths = open_paths
        self._expected = f"Bearer {token}".encode()
        self._refusal = REFUSAL.format(path=key_file)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send_refusal(send, 401, "Unauthorized", self._refusal)
                return
        await self.app(scope, receive, send)


class TokenInterceptor(ServerInterceptor):
    """The same check on gRPC metadata (``authorization: Bearer <key>``); UNAUTHENTICATED otherwise."""

    def __init__(self, token: str, key_file: Path) -> None:
        self._expected = f"Bearer {token}"
        self._message = REFUSAL.format(path=key_file)

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        if details.method in OPEN_RPCS:
            return await continuation(details)
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(given).encode(), self._expected.encode()):
            return await continuation(details)
        message = self._message

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

        return grpc.unary_unary_rpc_method_handler(refuse)
