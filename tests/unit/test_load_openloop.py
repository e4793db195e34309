"""The open-loop generator: its timetable, its accounting from due times (no coordinated omission,
checked against a fake clock) and its HTTP client (against a small local http.server)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from markit.ops.load.openloop import DROPPED, NO_ANSWER, Outcome, Poster, parse_head, run_timetable, summarize, timetable


def test_the_timetable_is_evenly_spaced_at_the_rate():
    assert timetable(4, 1.0) == [0.0, 0.25, 0.5, 0.75]
    assert len(timetable(17.5, 20)) == 350
    with pytest.raises(ValueError):
        timetable(0, 1)


class FakeClock:
    """Time passes only when the generator sleeps or a fake request stalls it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        await asyncio.sleep(0)  # let started requests run first, as a real loop would
        self.now = max(self.now, target)


def run(due, send, clock, max_outstanding=256):
    return asyncio.run(run_timetable(due, send, clock=clock, sleep=clock.sleep, max_outstanding=max_outstanding))


def test_a_stall_is_charged_to_every_request_due_during_it():
    """The first request stalls the generator for 0.5 s: the four due meanwhile leave late, and
    their latency counts from when they were due (a closed loop would have shown one slow request)."""
    clock = FakeClock()
    calls = []

    async def send() -> int:
        calls.append(clock.now)
        if len(calls) == 1:
            clock.now += 0.5
        return 200

    outcomes = run(timetable(10, 1.0), send, clock)
    assert [o.due for o in outcomes] == pytest.approx([i / 10 for i in range(10)])
    assert [o.latency for o in outcomes] == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0], abs=1e-9)
    assert [o.sent_after for o in outcomes] == pytest.approx([0, 0.4, 0.3, 0.2, 0.1, 0, 0, 0, 0, 0], abs=1e-9)
    result = summarize(outcomes, offered_rate=10, client_cpu=0.0)
    assert (result.ok, result.failed, result.late) == (10, 0, 4)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == pytest.approx((0, 400, 500), abs=1e-6)


def test_requests_are_not_held_back_by_slow_answers():
    """No answer comes back until every request was sent: each still leaves at its due time."""
    clock = FakeClock()
    sent = []

    async def main() -> list[Outcome]:
        gate = asyncio.Event()

        async def send() -> int:
            sent.append(clock.now)
            await gate.wait()
            return 200

        task = asyncio.ensure_future(run_timetable(timetable(5, 1.0), send, clock=clock, sleep=clock.sleep))
        while len(sent) < 5:
            await asyncio.sleep(0)
        clock.now += 1.0  # the answers all arrive one second after the last send
        gate.set()
        return await task

    outcomes = asyncio.run(main())
    assert sent == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert [o.sent_after for o in outcomes] == pytest.approx([0] * 5, abs=1e-9)
    assert [o.latency for o in outcomes] == pytest.approx([1.8, 1.6, 1.4, 1.2, 1.0])


def test_sends_beyond_the_outstanding_limit_are_dropped_and_failed_not_postponed():
    clock = FakeClock()

    async def main() -> list[Outcome]:
        gate = asyncio.Event()

        async def send() -> int:
            await gate.wait()
            return 200

        task = asyncio.ensure_future(run_timetable(timetable(10, 0.5), send, clock=clock, sleep=clock.sleep, max_outstanding=2))
        for _ in range(50):
            await asyncio.sleep(0)
        gate.set()
        return await task

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == [200, 200, DROPPED, DROPPED, DROPPED]
    result = summarize(outcomes, offered_rate=10, client_cpu=0.0)
    assert (result.ok, result.failed, result.late) == (2, 3, 0)
    assert result.statuses == {200: 2, NO_ANSWER: 3}


def test_summary_percentiles_cover_successes_only_and_the_window_runs_to_the_last_answer():
    outcomes = [Outcome(0.0, 0.0, 0.1, 200), Outcome(0.5, 0.0, 2.0, 503), Outcome(1.0, 0.0, 0.3, 200)]
    result = summarize(outcomes, offered_rate=2, client_cpu=0.5)
    assert result.seconds == pytest.approx(2.5)  # from due 0.0 to the 503 at 2.5
    assert result.p99_ms == pytest.approx(300) and result.failed == 1


def test_the_warm_up_is_not_counted_but_its_failures_are():
    outcomes = [Outcome(0.0, 0.0, 0.150, 200), Outcome(0.5, 0.0, 0.0, NO_ANSWER),  # warm-up: slow first connection, a failure
                Outcome(1.0, 0.0, 0.020, 200), Outcome(1.5, 0.0, 0.030, 200), Outcome(2.0, 0.0, 0.040, 503)]
    result = summarize(outcomes, offered_rate=2, client_cpu=0.0, warmup=1.0)
    assert result.ok == 2 and result.failed == 2 and result.statuses == {200: 2, 503: 1, NO_ANSWER: 1}
    assert result.p99_ms == pytest.approx(30.0)  # the 150 ms warm-up answer is not a latency of the measured window
    assert result.seconds == pytest.approx(1.04)  # from the first counted due time (1.0) to the last answer (2.04)


@pytest.mark.parametrize(("lines", "expected"), [
    ([b"HTTP/1.1 200 OK", b"Content-Length: 12"], (200, 12, False, False)),
    ([b"HTTP/1.1 503 Service Unavailable", b"transfer-encoding: chunked", b"Connection: close"], (503, None, True, True)),
    ([b"HTTP/1.0 404 Not Found", b"X: y"], (404, None, False, False)),
])
def test_parse_head(lines, expected):
    head = parse_head(lines)
    assert (head.status, head.length, head.chunked, head.close) == expected


def test_a_non_http_answer_is_a_connection_error():
    with pytest.raises(ConnectionError, match="not an HTTP status line"):
        parse_head([b"SSH-2.0-OpenSSH"])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, int]] = []  # noqa: RUF012 (per-server log, reset by the fixture)
    connections: set[int] = set()  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Handler.seen.append((self.headers["Authorization"], self.headers["Content-Type"], len(body)))
        _Handler.connections.add(id(self.connection))
        status = 503 if len(_Handler.seen) % 3 == 0 else 200
        answer = b'{"ok": true}'
        self.send_response(status)
        if len(_Handler.seen) % 2:
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        else:  # chunked, as a streaming server answers
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\n" + answer[:5] + b"\r\n" + f"{len(answer) - 5:x}".encode() + b"\r\n" + answer[5:] + b"\r\n0\r\n\r\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    _Handler.seen, _Handler.connections = [], set()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/predictions/x"
    finally:
        server.shutdown()
        server.server_close()


def test_the_poster_sends_body_type_and_token_and_reads_every_status(local_server):
    poster = Poster(local_server, b"\xff\xd8" * 100, "image/jpeg", "secret")

    async def six() -> list[int]:
        try:
            return [await poster.send() for _ in range(6)]
        finally:
            poster.close()

    assert asyncio.run(six()) == [200, 200, 503, 200, 200, 503]
    assert _Handler.seen == [("Bearer secret", "image/jpeg", 200)] * 6
    assert len(_Handler.connections) == 1  # one keep-alive connection, reused across both body framings


def test_no_server_is_no_answer():
    poster = Poster("http://127.0.0.1:9/x", b"", "text/plain", None, timeout=5)
    assert asyncio.run(poster.send()) == NO_ANSWER


class _ClosingHandler(_Handler):
    """Answers, then closes the connection without saying so: as a server whose keep-alive timeout ran out."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True


def test_a_pooled_connection_the_server_closed_meanwhile_is_not_reused():
    server = http.server.HTTPServer(("127.0.0.1", 0), _ClosingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    poster = Poster(f"http://127.0.0.1:{server.server_address[1]}/x", b"{}", "application/json", None, timeout=5)

    async def two_apart() -> list[int]:
        try:
            first = await poster.send()
            await asyncio.sleep(0.2)  # the server's close arrives while the connection is idle in the pool
            return [first, await poster.send()]
        finally:
            poster.close()

    try:
        assert asyncio.run(two_apart()) == [200, 200]
    finally:
        server.shutdown()
        server.server_close()
