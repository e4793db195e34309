"""tsclient.launch runs TorchServe's own start-up code and then *becomes* Java, so Java's exit status
and signals are the caller's (checked here with a stand-in java; tests/integration/test_container.py
runs the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def launch(tmp_path: Path, java_home: Path) -> subprocess.CompletedProcess:
    (tmp_path / "store").mkdir(exist_ok=True)
    (tmp_path / "config.properties").write_text("vmargs=-Xmx64m\n")
    env = {**os.environ, "JAVA_HOME": str(java_home), "TMPDIR": str(tmp_path), "FAKE_JAVA_OUT": str(tmp_path / "java.out")}
    env.pop("TEMP", None)
    env.pop("TS_CONFIG_FILE", None)
    return subprocess.run([sys.executable, "-m", "tsclient.launch", "--ncs", "--model-store", str(tmp_path / "store"),
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


def test_a_missing_java_is_a_failure_with_torchserves_message(tmp_path):
    result = launch(tmp_path, tmp_path / "no-jdk")
    assert result.returncode == 1
    assert "java not found" in result.stdout
