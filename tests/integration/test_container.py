"""The container's entrypoint, run outside a container against a real TorchServe.

deploy/container/entrypoint.sh with deploy/container/config.properties (private loopback ports
substituted by TorchServeProcess), a model store holding only tiny.mar, and the Dockerfile's own
HEALTHCHECK command: it comes up with token auth on, answers, stops on SIGTERM, and makes a crash
or a wrong input visible as a non-zero exit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import requests

from harness import TorchServeProcess
from markit.client.properties import read_properties

from helpers import REPO, png_bytes, reference_answer, tamper, write_key

pytestmark = pytest.mark.integration

CONTAINER = REPO / "deploy" / "container"
ENTRYPOINT = CONTAINER / "entrypoint.sh"
BAD_INPUT = 78  # the entrypoint's exit status for a wrong input (EX_CONFIG)
RED = png_bytes((220, 20, 30))


def venv_path() -> str:
    """PATH with this interpreter's bin first: the entrypoint runs `python`, as it finds it in the image."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK command (exec form), to run exactly what Docker would run."""
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", (REPO / "Dockerfile").read_text(), re.MULTILINE | re.DOTALL)
    assert match, "the Dockerfile has no exec-form HEALTHCHECK"
    return json.loads(match.group(1))


def group_gone(pid: int, timeout: float = 30.0) -> bool:
    """Whether every process of the group ``pid`` led (Java and its Python workers) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def store(tiny_mar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("container-store")
    shutil.copy(tiny_mar, root)
    return root


def image_entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT, with the entrypoint script at its place in this checkout."""
    match = re.search(r"^ENTRYPOINT (\[.*\])$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the Dockerfile has no exec-form ENTRYPOINT"
    return [str(ENTRYPOINT) if arg == "/usr/local/bin/torchserve-entrypoint" else arg for arg in json.loads(match.group(1))]


def start_entrypoint(store: Path, root: Path, command: list[str] | None = None,
                     overrides: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None) -> TorchServeProcess:
    """The entrypoint serving ``store`` with the container config, private ports, TMPDIR and worker ports.

    The config keeps its own JVM arguments: Java's temp dir then follows the private TMPDIR through the entrypoint.
    """
    vmargs = {"vmargs": read_properties(CONTAINER / "config.properties")["vmargs"]}
    server = TorchServeProcess(CONTAINER / "config.properties", store, root, overrides={**vmargs, **(overrides or {})})
    server.start(command=command or [str(ENTRYPOINT)],
                 env={"TS_CONFIG_FILE": str(server.config_path), "MODEL_STORE": str(store), "PATH": venv_path(), **(env or {})})
    return server


def run_healthcheck(server: TorchServeProcess) -> subprocess.CompletedProcess:
    """The Dockerfile's HEALTHCHECK command, run where Docker runs it: in the working dir, with the image's env."""
    return subprocess.run(healthcheck_command(), cwd=server.root / "work", capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": venv_path(), "TS_CONFIG_FILE": str(server.config_path)})


def test_serves_with_token_auth_and_stops_cleanly_on_sigterm(store, tmp_path):
    server = start_entrypoint(store, tmp_path / "ts")
    try:
        server.wait_ready(["tiny"])
        pid = server.process.pid
        java = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert "org.pytorch.serve.ModelServer" in java, "the entrypoint's process did not become Java"
        assert {"-XX:+ExitOnOutOfMemoryError", f"-Djava.io.tmpdir={server.root / 'tmp'}"} <= set(java)

        assert requests.get(server.url("inference") + "/ping", timeout=10).status_code == 400  # token auth is on
        health = run_healthcheck(server)
        assert (health.returncode, health.stdout.strip()) == (0, "healthy"), health.stderr
        reply = server.client.predict_bytes("tiny", RED, "image/png")
        assert reply.status == 200, reply.body
        assert [p["label"] for p in reply.body["predictions"]] == [p["label"] for p in reference_answer()["predictions"]]
        metrics = requests.get(server.url("metrics") + "/metrics", timeout=10)
        assert metrics.status_code == 200 and "ts_inference_requests_total" in metrics.text

        os.kill(pid, signal.SIGTERM)  # what tini forwards on `docker stop`
        assert server.process.wait(timeout=60) == 128 + signal.SIGTERM  # Java's status once its shutdown hook ran
        assert group_gone(pid), "TorchServe's workers outlived it"
        after = run_healthcheck(server)
        assert after.returncode == 1 and "ConnectionError" in after.stderr
    finally:
        server.stop()


def test_the_deployers_serving_settings_are_applied(store, tmp_path):
    (tmp_path / "models.yaml").write_text("models:\n  tiny: {workers: 2, batch_size: 5, response_timeout: 44}\n")
    server = start_entrypoint(store, tmp_path / "ts", env={"SERVING_SETTINGS": str(tmp_path / "models.yaml")})
    try:
        server.wait_ready(["tiny"])
        [model] = server.client.status("tiny").body
        assert (model["batchSize"], model["responseTimeout"], model["minWorkers"], model["maxWorkers"]) == (5, 44, 2, 2)
        assert server.client.predict_bytes("tiny", RED, "image/png").status == 200
    finally:
        server.stop()


def test_a_killed_java_ends_the_entrypoint_with_a_failure(store, tmp_path):
    """Through the image's whole ENTRYPOINT line (tini included) where tini is installed, else the script."""
    server = start_entrypoint(store, tmp_path / "ts", command=image_entrypoint() if Path("/usr/bin/tini").exists() else None)
    try:
        server.wait_ready(["tiny"])
        java = int((server.root / "tmp" / ".model_server.pid").read_text())  # where TorchServe notes its Java pid
        os.kill(java, signal.SIGKILL)  # the way the kernel's out-of-memory killer ends it
        assert server.process.wait(timeout=60) not in (0, None)
        assert group_gone(server.process.pid), "TorchServe's workers or CLI outlived the killed frontend"
    finally:
        server.stop()


def test_a_server_that_cannot_start_fails_the_entrypoint(store, tmp_path):
    """Java exits 1 when its port is taken: the entrypoint's status says so, `torchserve --foreground`'s does not."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        taken = {"inference_address": f"http://127.0.0.1:{blocker.getsockname()[1]}"}
        entrypoint = start_entrypoint(store, tmp_path / "entrypoint", overrides=taken)
        plain = TorchServeProcess(CONTAINER / "config.properties", store, tmp_path / "plain", overrides=taken)
        plain.start()
        try:
            assert entrypoint.process.wait(timeout=120) == 1, entrypoint.log_tail()
            assert "Failed to bind to address" in (entrypoint.root / "torchserve.out").read_text()
            assert plain.process.wait(timeout=120) == 0, "torchserve --foreground now reports a failed start itself"
        finally:
            entrypoint.stop()
            plain.stop()


def run_entrypoint(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENTRYPOINT)], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": venv_path(), **env})


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing config", "config {config} is not a file"),
        ("missing store", "model store {store} is not a directory"),
        ("empty store", "model store {store} holds no .mar archive"),
        ("uncreatable logs", "log directory {logs} cannot be created"),
        ("tampered archive", "archive refused before serving (rebuild it with scripts/build_mar.sh): tiny.mar: "
                             "'index_to_name.json' was modified after build"),
        ("unsigned under a trust policy", "tiny.mar: not signed (signature.sigstore.json is missing)"),
        ("pinned to another identity", "tiny.mar: model 'tiny' is pinned to sha256:" + "0" * 64),
        ("wrong serving settings", "models.yaml: models.tiny.workers: must be a whole number from 1 to 64, got 0"),
    ],
)
def test_wrong_inputs_fail_fast_naming_the_path(case, message, store, tmp_path):
    # a config with private ports: should a check let a wrong input through, no server collides with another
    config = TorchServeProcess(CONTAINER / "config.properties", store, tmp_path / "ts").write_config()
    paths = {"config": config, "store": store, "logs": tmp_path / "logs"}
    extra: dict[str, str] = {}
    if case == "missing config":
        paths["config"] = tmp_path / "mounted" / "config.properties"
    elif case == "missing store":
        paths["store"] = tmp_path / "model-store"
    elif case == "empty store":
        paths["store"] = tmp_path / "model-store"
        paths["store"].mkdir()
        (paths["store"] / "tiny.mar.txt").write_text("not an archive")
    elif case == "tampered archive":
        paths["store"] = tmp_path / "model-store"
        paths["store"].mkdir()
        tamper(store / "tiny.mar", paths["store"] / "tiny.mar", "index_to_name.json", b'{"0": "cat", "1": "green", "2": "blue"}')
    elif case == "unsigned under a trust policy":
        _, public = write_key(tmp_path, "publisher")
        (tmp_path / "trust.yaml").write_text(f"signed_by: [{public}]\n")
        extra = {"TRUST_POLICY": str(tmp_path / "trust.yaml")}
    elif case == "pinned to another identity":
        (tmp_path / "pins.json").write_text('{"identities": {"tiny": "sha256:' + "0" * 64 + '"}}')
        extra = {"MODEL_PINS": str(tmp_path / "pins.json")}
    elif case == "wrong serving settings":
        (tmp_path / "models.yaml").write_text("models:\n  tiny: {workers: 0}\n")
        extra = {"SERVING_SETTINGS": str(tmp_path / "models.yaml")}
    else:
        (tmp_path / "file").write_text("a file where a directory should be")
        paths["logs"] = tmp_path / "file" / "logs"
    result = run_entrypoint(tmp_path, TS_CONFIG_FILE=str(paths["config"]), MODEL_STORE=str(paths["store"]),
                            LOG_LOCATION=str(paths["logs"]), TMPDIR=str(tmp_path), **extra)
    assert result.returncode == BAD_INPUT, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("entrypoint: "), result.stderr
    assert message.format(**paths) in result.stderr
    assert not (tmp_path / "key_file.json").exists()  # TorchServe never started
