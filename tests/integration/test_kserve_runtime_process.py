"""The KServe runtime as a user starts it (scripts/serve_kserve.sh) and as it refuses a store: a tampered
archive, an archive whose golden examples do not reproduce, a signature its trust policy does not admit.
Each refusal names the archive and the reason, and nothing is served (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests

from benchmarks.tampering import HIDDEN, marker_for, relabel, rewrite
from harness import KServeRuntimeProcess
from markit.archive.verify import verify_mar
from markit.ops.ports import free_ports

from helpers import REPO, png_bytes
from integration_helpers import rewrite_manifest

pytestmark = pytest.mark.integration


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve_kserve.sh exited with {process.returncode}"
        try:
            if requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise AssertionError("not ready in time")


def test_serve_kserve_sh_serves_the_store_with_a_token_and_stops_cleanly_on_sigterm(tiny_store, tmp_path):
    http, grpc = free_ports(2)
    inherited = {key: value for key, value in os.environ.items() if key not in ("TRUST_POLICY", "SERVING_SETTINGS")}
    env = {**inherited, "MODEL_STORE": str(tiny_store), "KSERVE_HOME": str(tmp_path / "home"), "KSERVE_HTTP_PORT": str(http),
           "KSERVE_GRPC_PORT": str(grpc), "MODEL_PINS": str(tmp_path / "pins.json")}
    log = (tmp_path / "out.log").open("wb")
    process = subprocess.Popen([str(REPO / "scripts" / "serve_kserve.sh")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{http}"
        wait_ready(url, process)
        token = KServeRuntimeProcess(tiny_store, tmp_path / "home").token()  # reads the key file the script's runtime wrote
        red = png_bytes((220, 20, 30))
        assert requests.post(f"{url}/predictions/tiny", data=red, headers={"Content-Type": "image/png"}, timeout=30).status_code == 401
        answer = requests.post(f"{url}/predictions/tiny", data=red, timeout=30,
                               headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] in {"red", "green", "blue"}
        unload = requests.post(f"{url}/v2/repository/models/tiny/unload", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert unload.status_code == 404  # no repository API: the store is fixed at start
        huge = requests.post(f"{url}/predictions/tiny", data=b"x" * (10 * 1024 * 1024 + 1), timeout=60,
                             headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"})
        assert huge.status_code == 413 and "more than this server's limit of 10485760 bytes" in huge.json()["message"]
        assert requests.get(f"{url}/metrics", timeout=10).status_code == 401  # model names and traffic: the token's
        metrics = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        assert 'markit_requests_total{model="tiny",protocol="predictions",status="200"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        log.close()
    assert code == 0, (tmp_path / "out.log").read_text()[-3000:]
    # the first start pinned what it served
    assert json.loads((tmp_path / "pins.json").read_text()) == {"identities": {"tiny": verify_mar(tiny_store / "tiny.mar")}}


def test_serve_kserve_sh_refuses_an_archive_changed_consistently_since_it_was_pinned(tiny_store, tmp_path):
    """The secure default: no trust policy, no signature, yet a consistent edit (hashes and identity recomputed) is refused."""
    store = tmp_path / "store"
    store.mkdir()
    rewrite(tiny_store / "tiny.mar", store / "tiny.mar", lambda m, i: relabel(m, i, rehash=True, reidentify=True))
    (tmp_path / "pins.json").write_text(json.dumps({"identities": {"tiny": verify_mar(tiny_store / "tiny.mar")}}))
    inherited = {key: value for key, value in os.environ.items() if key not in ("TRUST_POLICY", "SERVING_SETTINGS")}
    http, grpc = free_ports(2)
    result = subprocess.run([str(REPO / "scripts" / "serve_kserve.sh")], capture_output=True, text=True, timeout=120,
                            env={**inherited, "MODEL_STORE": str(store), "KSERVE_HOME": str(tmp_path / "home"),
                                 "KSERVE_HTTP_PORT": str(http), "KSERVE_GRPC_PORT": str(grpc), "MODEL_PINS": str(tmp_path / "pins.json")})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "tiny.mar: model 'tiny' is pinned to sha256:" in result.stderr and "./scripts/pin.sh" in result.stderr


def golden_failing_store(tiny_store: Path, store: Path) -> Path:
    """A store whose tiny.mar (manifest consistently edited) expects 'purple', which the model never answers."""
    store.mkdir()

    def expect_purple(spec: dict) -> None:
        spec["golden"][0]["expected"] = {"predictions": [{"label": "purple"}]}

    rewrite_manifest(tiny_store / "tiny.mar", store / "tiny.mar", expect_purple)
    return store


def refusal(store: Path, root: Path, *args: str) -> tuple[int | None, str]:
    """Start the runtime on ``store``; it must exit by itself (refusing), not serve."""
    runtime = KServeRuntimeProcess(store, root, args)
    runtime.start()
    try:
        runtime.process.wait(120)
    finally:
        code = runtime.stop()
    return code, runtime.log_tail(200)


def test_an_archive_whose_golden_examples_do_not_reproduce_is_refused_and_nothing_is_served(tiny_store, tmp_path):
    store = golden_failing_store(tiny_store, tmp_path / "store")
    code, log = refusal(store, tmp_path / "runtime")
    assert code == 2
    assert "tiny.mar: its golden examples do not reproduce here, so it is not served" in log
    assert "golden/0_red.png: predictions[0].label: expected 'purple'" in log


def test_a_tampered_archive_is_refused_naming_the_member(tiny_store, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    with zipfile.ZipFile(tiny_store / "tiny.mar") as original, zipfile.ZipFile(store / "tiny.mar", "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            copy.writestr(info, data.replace(b'"red"', b'"RED"') if info.filename == "index_to_name.json" else data)
    code, log = refusal(store, tmp_path / "runtime")
    assert code == 2 and "'index_to_name.json' was modified after build" in log


@pytest.mark.parametrize("variant", ["the entry module hidden after the last member",
                                     "runtime/tasks/convention/handler.py hidden after the last member"])
def test_a_hidden_entry_is_refused_before_any_archive_code_runs(tiny_store, tmp_path, variant):
    store = tmp_path / "store"
    store.mkdir()
    tampered = HIDDEN[variant].make(tiny_store / "tiny.mar", store / "tiny.mar")
    code, log = refusal(store, tmp_path / "runtime")
    assert code == 2 and HIDDEN[variant].message in log
    assert not marker_for(tampered).exists()


def test_an_unsigned_archive_is_refused_under_a_trust_policy(tiny_store, tmp_path):
    from markit.archive.signing import generate_keys

    _, public = generate_keys(tmp_path / "team")
    policy = tmp_path / "trust.yaml"
    policy.write_text(f"signed_by:\n  - {public}\n")
    code, log = refusal(tiny_store, tmp_path / "runtime", "--trust", str(policy))
    assert code == 2 and "tiny.mar" in log and "signature" in log.lower()


def test_several_processes_serve_one_store_on_shared_ports_count_every_request_and_stop_with_0(tiny_store, tmp_path):
    runtime = KServeRuntimeProcess(tiny_store, tmp_path / "runtime", ["--processes", "2"])
    runtime.start()
    try:
        runtime.wait_ready()
        red = png_bytes((220, 20, 30))
        replies = [runtime.client.predict_bytes("tiny", red, "image/png") for _ in range(12)]  # a connection each
        assert all(reply.status == 200 for reply in replies)
        metrics = requests.get(f"{runtime.url()}/metrics", headers={"Authorization": f"Bearer {runtime.token()}"}, timeout=10).text
        assert 'markit_requests_total{model="tiny",protocol="predictions",status="200"} 12.0' in metrics  # both processes
        children = subprocess.run(["pgrep", "-f", "--", f"--http-port {runtime.http_port} .*--http-socket"],
                                  capture_output=True, text=True).stdout.split()
        assert len(children) == 2
    finally:
        code = runtime.stop()
    assert code == 0, runtime.log_tail()


def test_with_several_processes_a_refused_archive_stops_them_all_with_2(tiny_store, tmp_path):
    store = golden_failing_store(tiny_store, tmp_path / "store")
    code, log = refusal(store, tmp_path / "runtime", "--processes", "2")
    assert code == 2 and "golden examples do not reproduce here" in log
