"""Bounds on what a REST connection may hold before its request is whole: header size, header count, time.

uvicorn bounds none of these with httptools (its default parser where installed) and only the header's
size with h11; neither closes a connection that never finishes its header or body (a slowloris holds it
for ever). ``bounded_protocol`` wraps the HTTP protocol uvicorn would pick (``auto``) with:

- ``max_header_bytes``: a request line and headers still incomplete after that many bytes get 431;
- ``header_seconds``: a header not complete that long after the connection opened (or after the first
  byte of the next request on a kept-alive connection) gets 408 and the connection is closed;
- ``body_seconds``: a body not complete that long after its header gets 408 and the connection is closed.

``keep_alive_seconds`` is how long an idle kept-alive connection stays open (uvicorn's own default is 5 s).
A proxy's or client's pool keeps idle connections longer (nginx and cloud load balancers: 60 s); a server
that closes first races the pool's next request on that connection, which gets a reset, not an answer.

``HeaderCount`` (ASGI) answers 431 to a request with more than ``max_headers`` headers before anything
else reads them. Every refusal has a JSON body naming the limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from ...core.errors import refusal_body
from ...errors import UsageError

__all__ = ["HeaderCount", "HttpLimits", "bounded_protocol", "send_refusal"]

log = logging.getLogger(__name__)

REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}
LINGER_SECONDS = 1.0  # after a refusal, what still arrives is read and dropped this long, so the refusal is not lost to a reset


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 32 * 1024  # request line and headers (TorchServe's Netty: 8 KiB; nginx: 4 x 8 KiB)
    max_headers: int = 100
    header_seconds: float = 10.0
    body_seconds: float = 60.0  # a 10 MiB body (the default --max-request-bytes) at about 1.4 Mbit/s
    keep_alive_seconds: int = 75  # longer than the 60 s pools of nginx and cloud load balancers, as gunicorn and nginx advise

    def __post_init__(self) -> None:
        if min(self.max_header_bytes, self.max_headers, self.keep_alive_seconds) < 1 or min(self.header_seconds, self.body_seconds) <= 0:
            raise UsageError(f"HTTP limits {self}: every limit must be positive")


def refusal(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, with a JSON body."""
    body = json.dumps(refusal_body(status, REASONS[status].replace(" ", ""), message)).encode()
    head = (f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Guard:
    """Mixed in before uvicorn's HTTP protocol class: watches each request's head and body from outside the
    parser (a new ``cycle`` means a head was read; ``cycle.more_body`` false, its body)."""

    limits: HttpLimits
    transport: Any
    cycle: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_bytes, self._tail, self._timer, self._refused = 0, b"", None, False
        self._arm(self.limits.header_seconds, "the request header was not complete within {} s")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped
        before = self.cycle
        if self._awaiting_head() and not self._count_head(data):
            self._refuse(431, f"the request line and headers are more than {self.limits.max_header_bytes} bytes")
            return  # never handed to the parser
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        if self.cycle is not before:  # a head was read
            self._head_bytes, self._tail = 0, b""
            self._disarm()
            if self.cycle.more_body:
                self._arm(self.limits.body_seconds, "the request body was not complete within {} s of its header")
        elif self.cycle is not None and not self.cycle.more_body and self._head_bytes == 0:
            self._disarm()  # the body is whole

    def _count_head(self, data: bytes) -> bool:
        """Add the head's bytes in ``data`` (up to the blank line that ends it); False when over the limit."""
        if self._timer is None:
            self._arm(self.limits.header_seconds, "the request header was not complete within {} s")
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        self._head_bytes += len(data) if end < 0 else end + 4 - len(self._tail)
        self._tail = seen[-3:]
        return self._head_bytes <= self.limits.max_header_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _awaiting_head(self) -> bool:
        return self.cycle is None or not self.cycle.more_body

    def _arm(self, seconds: float, message: str) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, message.format(f"{seconds:g}"))

    def _disarm(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        self._timer = None

    def _expired(self, message: str) -> None:
        self._timer = None
        if self._refused or self.transport.is_closing():
            return
        if self.cycle is not None and not self._awaiting_head() and self.cycle.response_started:
            self.transport.close()  # an answer is on its way already (e.g. a 413 before the body): just end it
            return
        self._refuse(408, message)

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and end the connection: the write side at once, the read side after ``LINGER_SECONDS``
        (closing it with unread bytes would reset the connection and the client could lose the answer)."""
        log.info("closing a connection from %s: %d %s", _peer(self.transport), status, message)
        self._refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the request's app reads a disconnect and writes nothing more
            self.cycle.message_event.set()
        self.transport.write(refusal(status, message))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


def _peer(transport: Any) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "an unknown peer"


def bounded_protocol(limits: HttpLimits, base: type[asyncio.Protocol] = AutoHTTPProtocol) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` (what ``http="auto"`` picks) under ``limits``, for ``uvicorn.Config(http=...)``."""
    return type(f"Bounded{base.__name__}", (_Guard, base), {"limits": limits})


class HeaderCount:
    """Pure ASGI middleware: more than ``max_headers`` request headers is a 431 naming the limit."""

    def __init__(self, app: Any, max_headers: int) -> None:
        self.app, self.max_headers = app, max_headers

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or len(scope.get("headers") or ()) <= self.max_headers:
            await self.app(scope, receive, send)
            return
        await send_refusal(send, 431, "RequestHeaderFieldsTooLarge", f"the request has {len(scope['headers'])} headers, "
                                                                      f"more than this server's limit of {self.max_headers}; send fewer")


async def send_refusal(send: Callable, status: int, kind: str, message: str) -> None:
    """An ASGI answer with the OIP error shape (``refusal_body``), from a middleware before any route."""
    body = json.dumps(refusal_body(status, kind, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
