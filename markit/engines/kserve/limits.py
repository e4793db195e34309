"""The size of a REST request body, bounded before anything reads it: what TorchServe's ``max_request_size`` does.

A pure ASGI middleware: a body declared (``Content-Length``) or found, while it arrives, to be larger than
``max_bytes`` is answered 413 with a JSON body naming the limit, and never held in memory whole. A body
within the limit is passed on as it came. gRPC messages are bounded by the gRPC server's own receive limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.limits import REQUEST_BYTES
from .http_limits import send_refusal

__all__ = ["MAX_REQUEST_BYTES", "BodyLimit"]

MAX_REQUEST_BYTES = REQUEST_BYTES  # as TorchServe's max_request_size


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, f"the request body is {int(declared)} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the client left (or a read timeout closed it): nothing to answer
                return
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, f"the request body is more than {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable, what: str) -> None:
        await send_refusal(send, 413, "PayloadTooLarge", f"{what}, more than this server's limit of {self.max_bytes} bytes "
                                                         "(--max-request-bytes); send a smaller request")
