"""Reading wrk's result line (printed by the benchmark's Lua ``done()``)."""

from __future__ import annotations

import pytest

from markit.ops.load.wrk import WrkError, header_lines, parse_output

WRK_STDOUT = """Running 20s test @ http://127.0.0.1:8080/predictions/efficientnet_lite0
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   310.12ms   40.03ms 612.00ms   70.00%
  509 requests in 20.01s, 300.00KB read
  Non-2xx or 3xx responses: 3
Requests/sec:     25.44
Transfer/sec:     15.00KB
BENCH_JSON {"requests": 509, "duration_us": 20010000, "errors": {"connect": 0, "read": 1, "write": 0, "status": 3, \
"timeout": 2}, "latency_us": {"p50": 305000, "p90": 350000, "p99": 598000, "max": 612000}, "statuses": {"200": 503, "503": 3}}
"""


def test_the_json_line_gives_counts_statuses_and_percentiles():
    result = parse_output(WRK_STDOUT, "wrk", client_cpu=0.1)
    assert result.statuses == {200: 503, 503: 3, 0: 3}  # read error + timeouts: no answer
    assert (result.ok, result.failed) == (503, 6)
    assert result.seconds == pytest.approx(20.01)
    assert result.throughput == pytest.approx(503 / 20.01)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (305.0, 350.0, 598.0)


def test_a_run_without_errors_has_no_status_0():
    line = ('BENCH_JSON {"requests": 2, "duration_us": 1000000, "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, '
            '"timeout": 0}, "latency_us": {"p50": 1000, "p90": 2000, "p99": 2000, "max": 2000}, "statuses": {"200": 2}}')
    result = parse_output(line, "wrk", 0.0)
    assert result.statuses == {200: 2} and result.failed == 0


def test_output_without_the_result_line_is_an_error_showing_the_output():
    with pytest.raises(WrkError, match=r"(?s)no BENCH_JSON line.*unable to connect"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n", "wrk", 0.0)


def test_a_garbled_result_line_is_an_error():
    with pytest.raises(WrkError, match="unreadable wrk result line"):
        parse_output('BENCH_JSON {"requests": 1}\n', "wrk", 0.0)


def test_extra_headers_go_to_wrk_as_lines_and_ones_that_would_break_them_are_refused():
    assert header_lines({"X-API-Key": "abc", "X-Other": "a: b"}) == "X-API-Key: abc\nX-Other: a: b"
    assert header_lines({}) == ""
    for bad in ({"X-API-Key": "abc\r\nHost: evil"}, {"Bad Name": "x"}, {"A:B": "x"}):
        with pytest.raises(WrkError, match="cannot be sent"):
            header_lines(bad)
