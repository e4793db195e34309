"""The health probe against a real TorchServe with token authorization on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness import TorchServeProcess
from markit.client.tokens import KeyFile

from helpers import REPO

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ts(tiny_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    with TorchServeProcess(REPO / "config" / "config.properties", tiny_store, tmp_path_factory.mktemp("health")) as process:
        process.wait_ready(["tiny"])
        yield process


def probe(server: TorchServeProcess, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m markit.client.health`` as a container or Kubernetes exec probe runs it: in the server's working dir."""
    config = server.root / "work" / "config.properties"
    return subprocess.run([sys.executable, "-m", "markit.client.health", "--config", str(config), *args],
                          cwd=cwd or server.root / "work", capture_output=True, text=True, timeout=60)


def test_ping_without_a_token_is_refused(ts):
    """Why the probe exists: an HTTP probe cannot hold TorchServe's token."""
    response = requests.get(ts.url("inference") + "/ping", timeout=10)
    assert response.status_code == 400
    assert response.json()["type"] == "InvalidKeyException"


def test_probe_is_healthy_and_ready_with_auth_on(ts):
    live = probe(ts)
    assert (live.returncode, live.stdout.strip()) == (0, "healthy"), live.stderr
    ready = probe(ts, "--ready")
    assert ready.returncode == 0, ready.stderr
    assert "ready: 1 model(s) with READY workers (tiny)" in ready.stdout


def test_probe_names_a_missing_key_file(ts, tmp_path):
    result = probe(ts, cwd=tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / 'key_file.json'}: no key file" in result.stderr


def test_probe_reports_a_model_without_ready_workers(ts):
    scaled = ts.client.scale("tiny", 0, 0)
    assert scaled.status == 200, scaled.body
    try:
        result = probe(ts, "--ready")
        assert result.returncode == 1
        assert "no READY worker yet for tiny" in result.stderr
        assert probe(ts).returncode == 0  # liveness is about the server, not the model
    finally:
        ts.client.scale("tiny", 1, 1)
        ts.wait_ready(["tiny"])


def test_an_expired_token_is_renewed_through_the_key_file(ts):
    keys = KeyFile(ts.root / "work" / "key_file.json")
    old = keys.token("inference")
    new = keys.renew("inference", ts.url("management"))
    assert new != old and keys.token("inference") == new

    def ping(token: str) -> requests.Response:
        return requests.get(ts.url("inference") + "/ping", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert ping(old).status_code == 400
    assert ping(new).status_code == 200
    assert probe(ts).returncode == 0


def test_probe_fails_when_the_server_is_gone(tiny_store, tmp_path):
    with TorchServeProcess(REPO / "config" / "config.properties", tiny_store, tmp_path / "ts",
                           overrides={"load_models": "none"}) as server:
        server.wait_listening()
        assert probe(server).returncode == 0
    result = probe(server)
    assert result.returncode == 1
    assert "ConnectionError" in result.stderr
