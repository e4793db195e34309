"""scripts/serve.sh start|status|stop|foreground on a real TorchServe, as a user or a container runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.tampering import CHANGED, relabel, rewrite
from harness import TorchServeProcess
from markit.archive.verify import verify_mar
from markit.client import TorchServeClient
from markit.client.properties import server_urls

from helpers import REPO, png_bytes, reference_answer, tamper

pytestmark = pytest.mark.integration
SERVE = REPO / "scripts" / "serve.sh"


@pytest.fixture
def home(tmp_path: Path, tiny_store: Path) -> dict[str, str]:
    """TS_HOME, TS_CONFIG (the project config with free ports) and MODEL_STORE for one private server."""
    config = TorchServeProcess(REPO / "config" / "config.properties", tiny_store, tmp_path).write_config()
    return {**os.environ, "TS_HOME": str(tmp_path / "home"), "TS_CONFIG": str(config), "MODEL_STORE": str(tiny_store),
            "MODEL_PINS": str(tmp_path / "pins.json")}


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SERVE), *args], env=env, capture_output=True, text=True, timeout=300)


def client(env: dict[str, str]) -> TorchServeClient:
    urls = server_urls(Path(env["TS_CONFIG"]))
    return TorchServeClient(urls["inference"], urls["management"], Path(env["TS_HOME"]) / "key_file.json")


def pid_file(env: dict[str, str]) -> Path:
    """TorchServe's pid file: in its TMPDIR, which serve.sh keeps under TS_HOME."""
    (path,) = (Path(env["TS_HOME"]) / ".run").rglob(".model_server.pid")
    return path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_status_stop(home):
    started = serve(home, "start", "--timeout", "120")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "ready: 1 model(s) with READY workers (tiny)" in started.stdout
        assert serve(home, "start").stdout.startswith("TorchServe is already running")
        status = serve(home, "status")
        assert status.returncode == 0 and "ready: 1 model(s)" in status.stdout, status.stderr
        reply = client(home).predict_bytes("tiny", png_bytes((220, 20, 30)), "image/png")
        assert reply.status == 200
        assert reply.body["predictions"][0]["label"] == reference_answer()["predictions"][0]["label"]
        assert (Path(home["TS_HOME"]) / "logs" / "ts_log.log").exists()
        java = int(pid_file(home).read_text())
        served = Path(home["TS_HOME"]) / ".run" / "served-store"  # TorchServe serves what the checks unpacked
        assert f"-s {served} " in Path(f"/proc/{java}/cmdline").read_text().replace("\0", " ")  # Java's --model-store
        assert [path.name for path in served.iterdir()] == ["tiny.mar"] and (served / "tiny.mar").is_dir()
    finally:
        stopped = serve(home, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(java), "serve.sh stop returned while Java still ran (a quick restart finds its ports taken)"
    after = serve(home, "status")
    assert (after.returncode, after.stdout.strip()) == (3, "TorchServe is not running")
    # the first start pinned what it served
    assert json.loads(Path(home["MODEL_PINS"]).read_text()) == {"identities": {"tiny": verify_mar(Path(home["MODEL_STORE"]) / "tiny.mar")}}


def test_a_consistently_edited_archive_is_refused_until_re_pinned(home, tiny_store, tmp_path):
    """No trust policy, no signature: the pin file alone refuses an archive changed since it was pinned."""
    store = tmp_path / "store"
    store.mkdir()
    edited = rewrite(tiny_store / "tiny.mar", store / "tiny.mar",  # golden too: its workers replay them before they are ready
                     lambda m, i: relabel(m, i, rehash=True, reidentify=True, golden=True))
    Path(home["MODEL_PINS"]).write_text(json.dumps({"identities": {"tiny": verify_mar(tiny_store / "tiny.mar")}}))
    env = {**home, "MODEL_STORE": str(store)}
    refused = serve(env, "start")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "tiny.mar: model 'tiny' is pinned to sha256:" in refused.stderr and "./scripts/pin.sh" in refused.stderr
    assert not (Path(home["TS_HOME"]) / "key_file.json").exists()
    pinned = subprocess.run([str(REPO / "scripts" / "pin.sh"), str(edited)], env=env, capture_output=True, text=True, timeout=120)
    assert pinned.returncode == 0 and f"tiny pinned to {verify_mar(edited)} (was sha256:" in pinned.stdout, pinned.stderr
    started = serve(env, "start", "--timeout", "120")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        label = client(env).predict_bytes("tiny", png_bytes((220, 20, 30)), "image/png").body["predictions"][0]["label"]
        original = reference_answer()["predictions"][0]["label"]
        assert label == json.loads(CHANGED)[str(["red", "green", "blue"].index(original))]  # the edited labels, as pinned
    finally:
        serve(env, "stop")


def test_foreground_runs_until_terminated(home):
    process = subprocess.Popen([str(SERVE), "foreground"], env=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while serve(home, "status").returncode != 0:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "serve.sh foreground did not become ready in 120 s"
            time.sleep(1)
        os.kill(process.pid, signal.SIGTERM)  # what a container runtime sends to its main process
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert serve(home, "status").returncode == 3


def test_missing_store_is_named(home, tmp_path):
    result = serve({**home, "MODEL_STORE": str(tmp_path / "nowhere")}, "start")
    assert result.returncode == 2
    assert f"model store {tmp_path / 'nowhere'} not found" in result.stderr


def test_an_empty_store_starts_without_waiting_for_models(home, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**home, "MODEL_STORE": str(empty)}
    started = serve(env, "start", "--timeout", "60")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "warning: no .mar in" in started.stderr
        assert started.stdout.splitlines()[-2] == "healthy"
    finally:
        serve(env, "stop")


def test_a_model_whose_workers_cannot_start_fails_the_start_naming_it(home):
    """A deployer's mistake the archive cannot see: before, start waited out its timeout while /ping said Healthy."""
    env = {**home, "ARCHIVE_TORCH_THREADS": "many"}
    began = time.monotonic()
    started = serve(env, "start", "--timeout", "240")
    try:
        assert started.returncode == 1, started.stdout + started.stderr
        assert "serve.sh: not starting: model tiny 1.0: its workers cannot start (2 tries): ArchiveError: " \
               "ARCHIVE_TORCH_THREADS='many' is not a positive whole number" in started.stderr
        assert "model_log.log, line" in started.stderr
        assert time.monotonic() - began < 120  # two tries, not the timeout
    finally:
        serve(env, "stop")
    assert serve(env, "status").returncode == 3  # and nothing is left running


def test_a_tampered_archive_is_refused_before_torchserve_starts(home, tmp_path, tiny_store):
    store = tmp_path / "tampered"
    store.mkdir()
    tamper(tiny_store / "tiny.mar", store / "tiny.mar", "index_to_name.json", b'{"0": "cat", "1": "green", "2": "blue"}')
    started = serve({**home, "MODEL_STORE": str(store)}, "start")
    assert started.returncode == 2
    assert "tiny.mar: 'index_to_name.json' was modified after build" in started.stderr
    assert not (Path(home["TS_HOME"]) / "key_file.json").exists()  # TorchServe never started
