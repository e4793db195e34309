"""The runtime's HTTP bounds on a real uvicorn server (in a thread), over raw sockets, with both of uvicorn's HTTP
parsers: an oversized or never-finished header, too many headers, a never-finished body; and a slow answer
to a whole request is not cut."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from markit.engines.kserve.http_limits import HeaderCount, HttpLimits, bounded_protocol
from markit.errors import UsageError
from markit.ops.ports import free_ports

LIMITS = HttpLimits(max_header_bytes=4096, max_headers=20, header_seconds=0.6, body_seconds=0.6)


async def echo_length(scope, receive, send) -> None:
    """Reads the whole body, waits as long as the query string asks, answers with the body's length."""
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await asyncio.sleep(float(scope["query_string"] or 0))
    body = json.dumps({"bytes": size}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=[HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def port(request) -> Iterator[int]:
    [port] = free_ports(1)
    config = uvicorn.Config(HeaderCount(echo_length, LIMITS.max_headers), host="127.0.0.1", port=port, log_config=None,
                            lifespan="off", access_log=False, http=bounded_protocol(LIMITS, request.param),
                            h11_max_incomplete_event_size=2 * LIMITS.max_header_bytes)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(10)


def exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send ``parts`` (``pause`` s apart), read until the server closes; what came back and how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        started = time.monotonic()
        for part in parts:
            connection.sendall(part)
            time.sleep(pause)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def status_and_body(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_whole_request_is_answered_and_a_slow_answer_is_not_cut(port):
    response, _ = exchange(port, b"POST /?1.0 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    assert status_and_body(response) == (200, {"bytes": 3})  # answered after 1 s, longer than both timeouts


def test_a_header_larger_than_the_limit_is_a_431_naming_it(port):
    response, _ = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000)
    status, body = status_and_body(response)
    assert status == 431 and body["message"] == "the request line and headers are more than 4096 bytes"


def test_more_headers_than_the_limit_is_a_431_naming_it(port):
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(30))
    response, _ = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
    status, body = status_and_body(response)
    assert status == 431 and "has 32 headers, more than this server's limit of 20" in body["message"]


@pytest.mark.parametrize("parts", [(), (b"POST / HTTP/1.1\r\n", b"Host: x\r\n", b"X-Slow: 1\r\n")], ids=["silent", "slowloris"])
def test_a_header_never_finished_is_closed_with_408_after_the_timeout(port, parts):
    response, seconds = exchange(port, *parts, pause=0.1)
    status, body = status_and_body(response)
    assert status == 408 and body["message"] == "the request header was not complete within 0.6 s"
    assert 0.5 < seconds < 3


def test_a_body_never_finished_is_closed_with_408_after_the_timeout(port):
    response, seconds = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"0123456789", pause=0.1)
    status, body = status_and_body(response)
    assert status == 408 and body["message"] == "the request body was not complete within 0.6 s of its header"
    assert 0.5 < seconds < 3


def test_a_kept_alive_connection_serves_several_requests_within_the_limits(port):
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        for _ in range(3):
            connection.sendall(request)
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(0.4)  # idle between requests: not a header timeout (0.6 s from the next request's first byte)


@pytest.mark.parametrize("fields", [{"max_headers": 0}, {"body_seconds": 0}, {"keep_alive_seconds": 0}])
def test_limits_that_cannot_work_are_refused(fields):
    with pytest.raises(UsageError, match="every limit must be positive"):
        HttpLimits(**fields)
