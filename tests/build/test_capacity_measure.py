"""markit capacity's in-process part on a built archive: its handler timed alone and side by side (as processes and
as threads), a refused body named, and the command's prediction printed as a serving: section (no trial server)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from markit.errors import UsageError
from markit.ops.fit.measure import Plan, measure
from markit.ops.load.body import Body, golden_body

QUICK = {"seconds": 0.2, "warmup": 0.1, "min_batches": 3}


@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_the_handler_is_timed_at_each_size_and_thread_count_and_side_by_side(tiny_mar, mode):
    said: list[str] = []
    plan = Plan(batch_sizes=(1, 2, 4), threads=(1, 2), side_by_side=2, side_by_side_mode=mode, **QUICK)
    costs = measure(tiny_mar, golden_body(tiny_mar), plan, said.append)
    assert sorted((t.threads, t.batch_size) for t in costs.timings) == [(1, 1), (1, 2), (1, 4), (2, 1), (2, 2)]
    assert all(len(t.seconds) >= 3 and min(t.seconds) > 0 for t in costs.timings)
    line = costs.line(1)
    assert line.at(4) > line.at(1) > 0
    assert (costs.side_by_side_count, costs.side_by_side_mode) == (2, mode) and costs.side_by_side >= 1.0
    assert any(("threads of one process" if mode == "threads" else "processes") + " side by side" in text for text in said)


def test_a_body_the_archive_refuses_is_named_with_its_status(tiny_mar):
    with pytest.raises(UsageError, match=r"the archive answered the body with HTTP 4\d\d: .*--body FILE"):
        measure(tiny_mar, Body(b"not an image", "image/png", "junk"), Plan(batch_sizes=(1,), **QUICK), lambda _: None)


def test_the_command_predicts_and_prints_the_serving_section_without_a_trial(tiny_mar, tmp_path):
    done = subprocess.run([sys.executable, "-m", "markit", "capacity", str(tiny_mar), "--p99", "1000", "--no-confirm",
                           "--batch-sizes", "1,2", "--threads", "1"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "t(b) = " in done.stdout and "<- chosen" in done.stdout
    section = yaml.safe_load(done.stdout[done.stdout.index("serving:"):done.stdout.index("elapsed:")])["serving"]
    assert set(section) == {"workers", "torch_threads", "batch_size", "max_batch_delay", "response_timeout"}
    assert section["torch_threads"] == 1 and section["batch_size"] in (1, 2)
