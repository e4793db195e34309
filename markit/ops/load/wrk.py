"""The closed-loop generator: ``wrk`` (Debian's package) POSTing a binary body with a bearer token.

wrk keeps ``connections`` requests in flight: each connection sends its next request when the
previous answer arrives. A Lua script reads the body from a file and the token from the
environment (so neither appears on a command line), counts every HTTP status, and prints one JSON
line from its ``done()`` hook, which :func:`parse_output` reads::

    BENCH_JSON {"requests": 812, "duration_us": 20004221, "errors": {...}, "latency_us": {...}, "statuses": {"200": 812}}
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import MarkitError
from .stats import LoadResult

__all__ = ["LUA_SCRIPT", "WrkError", "header_lines", "parse_output", "run_wrk", "wrk_executable"]

MARKER = "BENCH_JSON "

LUA_SCRIPT = r"""
-- POST the file $BENCH_BODY_FILE as $BENCH_CONTENT_TYPE with "Authorization: Bearer $BENCH_TOKEN",
-- and the "Name: value" lines of $BENCH_HEADERS as headers.
local file = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
for name, value in (os.getenv("BENCH_HEADERS") or ""):gmatch("([^:\n]+): ([^\n]*)") do
  wrk.headers[name] = value
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, table.concat(parts, ", ")))
end
"""


class WrkError(MarkitError):
    """wrk is missing, failed, or printed no result line."""


def wrk_executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed; as root: apt-get update && apt-get install -y wrk "
                       "(./scripts/benchmark.sh does this when it runs as root)")
    return found


def parse_output(stdout: str, generator: str, client_cpu: float) -> LoadResult:
    """The result of one wrk run, from the JSON line the Lua ``done()`` printed.

    Latency percentiles are wrk's (over every answered request, 2xx or not); requests that got no
    answer (connect/read/write errors and timeouts) count as failed, under status 0."""
    line = next((text for text in stdout.splitlines() if text.startswith(MARKER)), None)
    if line is None:
        raise WrkError(f"wrk printed no {MARKER.strip()} line; its output:\n{stdout.strip()}")
    try:
        data: dict[str, Any] = json.loads(line[len(MARKER):])
        statuses = {int(status): int(count) for status, count in data["statuses"].items()}
        errors = data["errors"]
        no_answer = int(errors["connect"]) + int(errors["read"]) + int(errors["write"]) + int(errors["timeout"])
        latency = data["latency_us"]
        seconds = int(data["duration_us"]) / 1e6
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise WrkError(f"unreadable wrk result line {line!r}: {type(err).__name__}: {err}") from err
    if no_answer:
        statuses[0] = statuses.get(0, 0) + no_answer
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    failed = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    return LoadResult(generator=generator, seconds=seconds, ok=ok, failed=failed,
                      p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000, p99_ms=latency["p99"] / 1000,
                      client_cpu=client_cpu, statuses=statuses)


def header_lines(headers: Mapping[str, str]) -> str:
    """``headers`` as the ``Name: value`` lines the Lua script reads from ``$BENCH_HEADERS``."""
    for name, value in headers.items():
        if not name or any(c in name for c in ":\r\n ") or any(c in value for c in "\r\n"):
            raise WrkError(f"header {name!r}: {value!r} cannot be sent: a name without ':', spaces or line breaks, "
                           "a value without line breaks")
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def run_wrk(url: str, body: bytes, content_type: str, token: str | None, *, connections: int, seconds: float,
            timeout: float = 120.0, threads: int = 1, headers: Mapping[str, str] | None = None) -> LoadResult:
    """``connections`` requests in flight for ``seconds`` against ``url``; wrk's own CPU is reported. ``headers``
    go with every request beside the token (e.g. LitServe's ``X-API-Key``)."""
    executable = wrk_executable()
    extra = header_lines(headers or {})
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA_SCRIPT, encoding="utf-8")
        body_file = Path(tmp) / "body"
        body_file.write_bytes(body)
        env: Mapping[str, str] = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_CONTENT_TYPE": content_type,
                                  "BENCH_TOKEN": token or "", "BENCH_HEADERS": extra}
        command = [executable, f"--threads={min(threads, connections)}", f"--connections={connections}",
                   f"--duration={max(1, round(seconds))}s", f"--timeout={max(1, round(timeout))}s", f"--script={script}", url]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=seconds + timeout + 60, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    generator = f"wrk, closed loop, {connections} connections"
    result = parse_output(done.stdout, generator, client_cpu=0.0)
    return dataclasses.replace(result, client_cpu=cpu / result.seconds if result.seconds else 0.0)
