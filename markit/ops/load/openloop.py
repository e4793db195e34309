"""The open-loop generator: requests leave on a fixed timetable whatever the answers do.

A closed loop (wrk) sends the next request only when an answer came back, so a slow server slows
the client down and the slow period is sampled by few requests ("coordinated omission"). Here
request ``i`` is due at ``start + i / rate``; each one is sent on its own keep-alive connection
from a pool (a new one is opened when none is idle), and its latency is measured **from the time
it was due**, not from when it actually left (a pooled connection the server closed meanwhile is not
reused, as standard clients check before reusing one). If the generator itself falls behind (a pause, a
busy core), the delay lands in the latencies and the send counts as *late*; if more than
``max_outstanding`` requests are in flight at a due time, the send is *dropped* and counted as
failed (status 0) instead of being postponed. The schedule starts with a warm-up at the same rate
(the client opens its connections, the server settles) whose latencies are not counted; a request
of the warm-up that fails still counts as failed.

The timing core (:func:`run_timetable`) takes its clock, its sleep and its send as arguments, so
its accounting is tested against a fake clock; :class:`Poster` is the HTTP/1.1 client.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .cpu import cores_used
from .stats import LoadResult, is_ok

__all__ = ["WARMUP", "Outcome", "Poster", "open_loop", "run_timetable", "summarize", "timetable"]

LATE_AFTER = 0.010  # s: a send leaving later than this after its due time counts as late
DROPPED = -1  # status of a send not made: too many requests were already in flight
NO_ANSWER = 0  # status of a request that got no HTTP answer (connection error, timeout)
WARMUP = 2.0  # s: the default warm-up of a benchmark's open loop


def timetable(rate: float, seconds: float) -> list[float]:
    """Due times (seconds from the start) of a fixed arrival rate: ``i / rate`` for ``i < rate * seconds``."""
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"rate and seconds must be positive, got {rate} and {seconds}")
    return [index / rate for index in range(max(1, round(rate * seconds)))]


@dataclass(frozen=True)
class Outcome:
    """One scheduled request. Times are seconds: ``due`` from the start, the others from ``due``."""

    due: float
    sent_after: float  # when it actually left, after its due time (0 = on time)
    latency: float  # answer time minus due time: what a user arriving at ``due`` waited
    status: int  # HTTP status, NO_ANSWER or DROPPED


async def run_timetable(due_times: Sequence[float], send: Callable[[], Awaitable[int]], *,
                        clock: Callable[[], float] = time.perf_counter,
                        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                        max_outstanding: int = 256) -> list[Outcome]:
    """Start one ``send()`` per due time (never waiting for earlier answers); every outcome, in due order."""
    start = clock()
    outstanding = 0
    tasks: list[asyncio.Task[Outcome] | Outcome] = []

    async def one(due: float) -> Outcome:
        nonlocal outstanding
        sent = clock()
        try:
            status = await send()
        finally:
            outstanding -= 1
        return Outcome(due - start, max(0.0, sent - due), clock() - due, status)

    for offset in due_times:
        due = start + offset
        wait = due - clock()
        if wait > 0:
            await sleep(wait)
        if outstanding >= max_outstanding:
            tasks.append(Outcome(offset, max(0.0, clock() - due), 0.0, DROPPED))
            continue
        outstanding += 1
        tasks.append(asyncio.ensure_future(one(due)))
    return [task if isinstance(task, Outcome) else await task for task in tasks]


def summarize(outcomes: Sequence[Outcome], *, offered_rate: float, client_cpu: float,
              late_after: float = LATE_AFTER, warmup: float = 0.0) -> LoadResult:
    """Latency percentiles of the 2xx answers (from their due times), statuses, late sends, of the
    requests due from ``warmup`` seconds on; the failures of the warm-up before count too.

    The window runs from the first counted due time to the last answer (or due time), so throughput
    is what was answered over the time the load lasted."""
    warming = [outcome for outcome in outcomes if outcome.due < warmup]
    outcomes = [outcome for outcome in outcomes if outcome.due >= warmup]
    statuses = Counter(NO_ANSWER if outcome.status == DROPPED else outcome.status for outcome in outcomes)
    statuses.update(NO_ANSWER if outcome.status == DROPPED else outcome.status for outcome in warming if not is_ok(outcome.status))
    latencies = [1000 * outcome.latency for outcome in outcomes if is_ok(outcome.status)]
    ends = [outcome.due + outcome.latency for outcome in outcomes]
    seconds = max(ends, default=0.0) - min((outcome.due for outcome in outcomes), default=0.0)
    late = sum(1 for outcome in outcomes if outcome.status != DROPPED and outcome.sent_after > late_after)
    return LoadResult.from_latencies(f"open loop, fixed arrival rate {offered_rate:.1f}/s", seconds, latencies, statuses,
                                     client_cpu, late=late, offered_rate=offered_rate)


@dataclass(frozen=True)
class _Head:
    status: int
    length: int | None
    chunked: bool
    close: bool


def parse_head(lines: Sequence[bytes]) -> _Head:
    """Status line and headers (without the blank line) -> what the client needs to read the body."""
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP status line: {lines[0][:80]!r}")
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            close = value == "close"
    return _Head(int(parts[1]), length, chunked, close)


class Poster:
    """POSTs one body to one URL over a pool of keep-alive HTTP/1.1 connections (asyncio, no threads)."""

    def __init__(self, url: str, body: bytes, content_type: str, token: str | None, timeout: float = 120.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Type: {content_type}",
                   f"Content-Length: {len(body)}"]
        if token:
            headers.append(f"Authorization: Bearer {token}")
        self.request = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body
        self.timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self) -> int:
        """One request; its HTTP status, or NO_ANSWER when the connection failed or timed out."""
        try:
            return await asyncio.wait_for(self._exchange(), self.timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            return NO_ANSWER

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection the server has not closed meanwhile (as standard clients check before reusing
        one), else a new one."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not (reader.at_eof() or writer.is_closing()):
                return reader, writer
            writer.close()
        return await asyncio.open_connection(self.host, self.port)

    async def _exchange(self) -> int:
        reader, writer = await self._connection()
        try:
            writer.write(self.request)
            await writer.drain()
            lines = []
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                lines.append(line.rstrip(b"\r\n"))
            if not lines:
                raise ConnectionError("the server closed the connection without answering")
            head = parse_head(lines)
            if head.chunked:
                while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                    await reader.readexactly(size + 2)
                await reader.readline()
            elif head.length is not None:
                await reader.readexactly(head.length)
            else:
                await reader.read()
                head = _Head(head.status, None, False, True)
        except BaseException:
            writer.close()
            raise
        if head.close:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return head.status

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def open_loop(url: str, body: bytes, content_type: str, token: str | None, *, rate: float, seconds: float,
              warmup: float = 0.0, max_outstanding: int = 256, timeout: float = 120.0) -> LoadResult:
    """``rate`` requests per second for ``warmup`` + ``seconds``, the first ``warmup`` seconds not
    counted; latencies from due times; this process's CPU as client CPU."""
    poster = Poster(url, body, content_type, token, timeout)

    async def run() -> list[Outcome]:
        try:
            return await run_timetable(timetable(rate, warmup + seconds), poster.send, max_outstanding=max_outstanding)
        finally:
            poster.close()

    outcomes, client_cpu = cores_used(lambda: asyncio.run(run()))
    return summarize(outcomes, offered_rate=rate, client_cpu=client_cpu, warmup=warmup)
