"""``python -m markit capacity``: a wrong argument or archive ends in one line and exit 2, before anything is
measured; the trial server's TorchServe config keeps the project's settings and takes the trial's ports; a trial
that misses the target rescales the prediction and tries again, once."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from markit.ops.fit import command
from markit.ops.fit.confirm import Confirmation
from markit.ops.fit.costs import Costs, Timing
from markit.ops.fit.model import Engine
from markit.ops.fit.trial import _torchserve_config
from markit.ops.load.body import Body
from markit.ops.load.stats import LoadResult

from helpers import REPO


def markit(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "markit", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)


def broken(tmp_path: Path) -> str:
    (tmp_path / "broken.mar").write_bytes(b"not a zip")
    return str(tmp_path / "broken.mar")


MISTAKES = [
    # (id, arguments, what stderr says)
    ("no archive", lambda t: [str(t / "nope.mar"), "--p99", "50"], "markit capacity: {t}/nope.mar: no such archive"),
    ("not an archive", lambda t: [broken(t), "--p99", "50"], "markit capacity: broken.mar: "),
    ("no p99", lambda t: [broken(t)], "the following arguments are required: --p99"),
    ("p99 not above 0", lambda t: [broken(t), "--p99", "0"], "--p99: expected a number above 0, got '0'"),
    ("load not a fraction", lambda t: [broken(t), "--p99", "50", "--load", "1.5"], "--load: expected a fraction of capacity"),
    ("batch sizes", lambda t: [broken(t), "--p99", "50", "--batch-sizes", "0,4"], "--batch-sizes: expected comma-separated whole"),
    ("unknown engine", lambda t: [broken(t), "--p99", "50", "--engine", "triton"], "--engine: invalid choice: 'triton'"),
    ("no body file", lambda t: [broken(t), "--p99", "50", "--body", str(t / "nope.jpg")], "--body {t}/nope.jpg: no such file"),
    ("content type alone", lambda t: [broken(t), "--p99", "50", "--content-type", "image/png"], "--content-type needs --body FILE"),
]


@pytest.mark.parametrize(("argv", "line"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2(tmp_path, argv, line):
    done = markit(tmp_path, "capacity", *argv(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert line.format(t=tmp_path) in done.stderr, done.stderr


def test_the_command_line_lists_its_commands():
    done = markit(REPO, "--help")
    assert done.returncode == 0 and "capacity" in done.stdout
    assert markit(REPO, "nonsense").returncode == 2


def test_the_trial_config_is_the_projects_with_the_trials_ports_store_and_java_temp_dir():
    base = (REPO / "config" / "config.properties").read_text(encoding="utf-8")
    text = _torchserve_config(base, {"inference_address": "http://127.0.0.1:12001", "model_store": "/scratch/served",
                                     "vmargs": "-Djava.io.tmpdir=/scratch/java-tmp"})
    values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#") and "=" in line)
    assert values["inference_address"] == "http://127.0.0.1:12001"
    assert values["model_store"] == "/scratch/served"
    assert values["vmargs"] == "-XX:TieredStopAtLevel=1 -Djava.io.tmpdir=/scratch/java-tmp"  # the project's JVM flag kept
    assert values["disable_token_authorization"] == "false"  # token authorization stays on
    assert sum(line.startswith("inference_address=") for line in text.splitlines()) == 1


def context(p99_ms: float) -> command._Context:
    args = argparse.Namespace(p99=p99_ms, load=0.7, cores=1, connections=8, delays=(1, 5, 20))
    free = Engine("free", request_cpu=0.0, handoff=0.0, latency=0.0, batching="torchserve")
    return command._Context(args, Path("x.mar"), Body(b"", "image/png", "nothing"), free, None, lambda _: None)


def trial_measuring(p99s: list[float], tried: list):
    """A stand-in for the served trial: it notes the setting and measures the next of ``p99s``."""
    def trial(_context, _costs, chosen):
        tried.append((chosen.setting.batch_size, chosen.setting.max_batch_delay))
        opened = LoadResult("open loop", 10.0, ok=500, failed=0, p50_ms=10.0, p90_ms=20.0, p99_ms=p99s[len(tried) - 1],
                            client_cpu=0.0, offered_rate=50.0)
        return Confirmation(opened, opened)
    return trial


COSTS = Costs(tuple(Timing(1, b, ((10 + 10 * b) / 1000,) * 5) for b in (1, 2, 4, 8)))  # batch 8: 89/s, 90 ms a batch


def test_a_trial_over_the_target_rescales_the_predictions_and_tries_the_new_choice_once(monkeypatch):
    tried: list = []
    monkeypatch.setattr(command, "_trial", trial_measuring([90.0, 40.0], tried))
    first = command._predict(context(60), COSTS)
    assert (first.setting.batch_size, 1000 * first.p99) == (8, pytest.approx(50.9, abs=1))  # predicted within 60 ms
    chosen, measured = command._confirmed(context(60), COSTS, first, time.monotonic())
    assert tried == [(8, 1), (2, 1)]  # 90 ms measured: 1.8x the prediction; batch 2's 21 ms scaled stays within 60
    assert (chosen.setting.batch_size, measured.opened.p99_ms) == (2, 40.0)


def test_no_second_trial_when_the_first_meets_the_target_or_there_is_no_time_left(monkeypatch):
    tried: list = []
    monkeypatch.setattr(command, "_trial", trial_measuring([55.0, 90.0, 40.0], tried))
    first = command._predict(context(60), COSTS)
    assert command._confirmed(context(60), COSTS, first, time.monotonic())[0] is first  # 55 ms: met
    assert command._confirmed(context(60), COSTS, first, time.monotonic() - command.BUDGET)[0] is first  # 90 ms, no time
    assert tried == [(8, 1), (8, 1)]
