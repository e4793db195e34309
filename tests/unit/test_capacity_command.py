"""``python -m markit capacity``: a wrong argument or archive ends in one line and exit 2, before anything is
measured; the trial server's TorchServe config keeps the project's settings and takes the trial's ports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from markit.ops.fit.trial import _torchserve_config

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
