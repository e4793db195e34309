"""markit.ops.launch runs TorchServe's own start-up code and then *becomes* Java, so Java's exit status
and signals are the caller's (checked here with a stand-in java; tests/integration/test_container.py
runs the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from markit.ops.launch import WORKER_ENVIRONMENT, with_worker_defaults


def launch(tmp_path: Path, java_home: Path, **variables: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "store").mkdir(exist_ok=True)
    (tmp_path / "config.properties").write_text("vmargs=-Xmx64m\n")
    env = {**os.environ, "JAVA_HOME": str(java_home), "TMPDIR": str(tmp_path), "FAKE_JAVA_OUT": str(tmp_path / "java.out")}
    for name in ("TEMP", "TS_CONFIG_FILE", *variables):
        env.pop(name, None)
    env.update({name: value for name, value in variables.items() if value is not None})
    return subprocess.run([sys.executable, "-m", "markit.ops.launch", "--ncs", "--model-store", str(tmp_path / "store"),
                           "--ts-config", str(tmp_path / "config.properties")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_the_launcher_becomes_java_and_exits_with_its_status(tmp_path):
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\necho "$PPID $$ $*" > "$FAKE_JAVA_OUT"\nexit 7\n')
    java.chmod(0o755)
    result = launch(tmp_path, tmp_path / "jdk")
    assert result.returncode == 7, result.stdout + result.stderr
    parent, pid, *args = (tmp_path / "java.out").read_text().split()
    # exec: java runs in the launcher's own process, whose parent is this test, and notes that pid for `torchserve --stop`
    assert int(parent) == os.getpid()
    assert (tmp_path / ".model_server.pid").read_text() == pid
    assert args[args.index("-f") + 1] == str(tmp_path / "config.properties")
    assert args[args.index("-s") + 1] == str(tmp_path / "store")
    assert {"org.pytorch.serve.ModelServer", "-ncs", "-Xmx64m"} <= set(args)  # TorchServe's own command, vmargs included


def fake_java_printing_env(tmp_path: Path) -> Path:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\nenv > "$FAKE_JAVA_OUT"\n')
    java.chmod(0o755)
    return tmp_path / "jdk"


def java_env(tmp_path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tmp_path / "java.out").read_text().splitlines() if "=" in line)


def test_java_and_its_workers_get_the_worker_environment_unless_the_caller_set_it(tmp_path):
    assert launch(tmp_path, fake_java_printing_env(tmp_path), THP_MEM_ALLOC_ENABLE=None).returncode == 0
    assert java_env(tmp_path)["THP_MEM_ALLOC_ENABLE"] == WORKER_ENVIRONMENT["THP_MEM_ALLOC_ENABLE"] == "1"
    assert launch(tmp_path, tmp_path / "jdk", THP_MEM_ALLOC_ENABLE="0").returncode == 0
    assert java_env(tmp_path)["THP_MEM_ALLOC_ENABLE"] == "0"  # a deployer's choice wins


def test_worker_defaults_fill_only_what_is_unset():
    assert with_worker_defaults({"A": "x"}) == {**WORKER_ENVIRONMENT, "A": "x"}
    assert with_worker_defaults({"THP_MEM_ALLOC_ENABLE": "0"})["THP_MEM_ALLOC_ENABLE"] == "0"


def test_a_missing_java_is_a_failure_with_torchserves_message(tmp_path):
    result = launch(tmp_path, tmp_path / "no-jdk")
    assert result.returncode == 1
    assert "java not found" in result.stdout
