"""What a deployer sets without rebuilding, applied by scripts/serve.sh on a real TorchServe: the trust policy
(signed archives, a consistent edit refused) and this machine's serving settings (config/models.yaml), and
every tamper variant, hidden zip entries included, refused before TorchServe starts, naming the entry, signed
or not, with no injected code run."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from benchmarks.tampering import HIDDEN, TAMPERED, marker_for, relabel, rewrite
from harness import TorchServeProcess
from markit.builder import build_archive
from markit.client import TorchServeClient
from markit.client.properties import server_urls

from helpers import REPO, png_bytes, reference_answer, write_key, write_tiny_spec

pytestmark = pytest.mark.integration
SERVE = REPO / "scripts" / "serve.sh"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny.mar built with --sign, the store holding it, and a trust policy naming the publisher's public key."""
    root = tmp_path_factory.mktemp("signed")
    private, public = write_key(root, "publisher")
    mar = build_archive(write_tiny_spec(root / "spec", serving={"workers": 1}), root / "store", progress=lambda _: None,
                        sign_key=private).path
    policy = root / "trust.yaml"
    policy.write_text(yaml.safe_dump({"signed_by": [public.name]}))
    return {"mar": mar, "store": root / "store", "policy": policy}


@pytest.fixture
def env(tmp_path: Path, signed: dict[str, Path]) -> dict[str, str]:
    config = TorchServeProcess(REPO / "config" / "config.properties", signed["store"], tmp_path).write_config()
    return {**os.environ, "TS_HOME": str(tmp_path / "home"), "TS_CONFIG": str(config), "MODEL_STORE": str(signed["store"]),
            "TRUST_POLICY": str(signed["policy"]), "MODEL_PINS": str(tmp_path / "pins.json")}


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SERVE), *args], env=env, capture_output=True, text=True, timeout=300)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_signed_archive_serves_with_this_machines_settings_and_stays_as_built(env, signed, tmp_path):
    settings = tmp_path / "models.yaml"
    settings.write_text(yaml.safe_dump({"models": {"tiny": {"workers": 2, "batch_size": 3, "max_batch_delay": 7,
                                                            "response_timeout": 33}}}))
    before = digest(signed["mar"])
    started = serve({**env, "SERVING_SETTINGS": str(settings)}, "start", "--timeout", "120")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        urls = server_urls(Path(env["TS_CONFIG"]))
        client = TorchServeClient(urls["inference"], urls["management"], Path(env["TS_HOME"]) / "key_file.json")
        [model] = client.status("tiny").body
        assert (model["batchSize"], model["maxBatchDelay"], model["minWorkers"], model["maxWorkers"]) == (3, 7, 2, 2)
        assert model["responseTimeout"] == 33  # the one setting neither models= nor the management API can change
        assert [worker["status"] for worker in model["workers"]] == ["READY", "READY"]
        reply = client.predict_bytes("tiny", png_bytes((220, 20, 30)), "image/png")
        assert reply.status == 200 and reply.body["predictions"][0]["label"] == reference_answer()["predictions"][0]["label"]
    finally:
        serve(env, "stop")
    assert digest(signed["mar"]) == before


def test_wrong_settings_stop_the_start_naming_the_key(env, tmp_path):
    settings = tmp_path / "models.yaml"
    settings.write_text(yaml.safe_dump({"models": {"tiny": {"batchsize": 3}}}))
    started = serve({**env, "SERVING_SETTINGS": str(settings)}, "start")
    assert started.returncode == 2
    assert "models.tiny.batchsize: unknown setting" in started.stderr
    assert not (Path(env["TS_HOME"]) / "key_file.json").exists()  # TorchServe never started


def test_a_signed_archive_edited_consistently_is_refused_before_torchserve_starts(env, signed, tmp_path):
    store = tmp_path / "edited"
    store.mkdir()
    rewrite(signed["mar"], store / "tiny.mar", lambda m, i: relabel(m, i, rehash=True, reidentify=True))
    started = serve({**env, "MODEL_STORE": str(store)}, "start")
    assert started.returncode == 2
    assert "tiny.mar: its signature does not verify with a trusted key" in started.stderr
    assert "index_to_name.json" in started.stderr
    assert not (Path(env["TS_HOME"]) / "key_file.json").exists()


@pytest.mark.parametrize("trusted", [True, False], ids=["signed, under the trust policy", "unsigned, integrity checks alone"])
@pytest.mark.parametrize("variant", [*TAMPERED, *HIDDEN])
def test_each_tamper_variant_is_refused_before_torchserve_starts(env, signed, tiny_mar, tmp_path, variant, trusted):
    tamper = {**TAMPERED, **HIDDEN}[variant]
    store = tmp_path / "tampered"
    store.mkdir()
    tampered = tamper.make(signed["mar"] if trusted else tiny_mar, store / "tiny.mar")
    started = serve({**env, "MODEL_STORE": str(store), "TRUST_POLICY": str(signed["policy"]) if trusted else ""}, "start")
    assert started.returncode == 2, started.stdout
    assert tamper.message in started.stderr
    assert not (Path(env["TS_HOME"]) / "key_file.json").exists()
    assert not marker_for(tampered).exists()  # no injected code ran
