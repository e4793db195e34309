"""The KServe runtime image's entrypoint, run outside a container (no Docker engine here) as the image runs
it: a store holding tiny.mar, the token file written at first start, the Dockerfile.kserve HEALTHCHECK
command, SIGTERM ending it with 0, and wrong inputs stopping it with 78 (EX_CONFIG) and one line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from markit.ops.ports import free_ports

from helpers import REPO, png_bytes

pytestmark = pytest.mark.integration

ENTRYPOINT = REPO / "deploy" / "container" / "kserve-entrypoint.sh"
BAD_INPUT = 78


def environment(store: Path, home: Path, **extra: str) -> dict[str, str]:
    http, grpc = free_ports(2)
    inherited = {key: value for key, value in os.environ.items()
                 if key not in ("TRUST_POLICY", "SERVING_SETTINGS", "AUTH", "PROCESSES")}
    return {**inherited, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "MODEL_STORE": str(store),
            "HOST": "127.0.0.1", "HTTP_PORT": str(http), "GRPC_PORT": str(grpc), "TRUST_POLICY": str(home / "no-trust.yaml"),
            "SERVING_SETTINGS": str(home / "no-models.yaml"), **extra}


def healthcheck(port: str) -> list[str]:
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*?\])$", (REPO / "Dockerfile.kserve").read_text(), re.MULTILINE | re.DOTALL)
    return [part.replace("8080", port) for part in json.loads(match.group(1))]


def test_the_entrypoint_serves_the_store_with_a_token_passes_the_healthcheck_and_stops_with_0_on_sigterm(tiny_store, tmp_path):
    env = environment(tiny_store, tmp_path)
    env.pop("TRUST_POLICY")
    env.pop("SERVING_SETTINGS")
    log = (tmp_path / "out.log").open("wb")
    process = subprocess.Popen([str(ENTRYPOINT)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(healthcheck(env["HTTP_PORT"]), env=env, capture_output=True, timeout=30).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "out.log").read_text()[-3000:]
            time.sleep(0.5)
        token = json.loads((tmp_path / "key_file.json").read_text())["inference"]["key"]
        reply = requests.post(f"http://127.0.0.1:{env['HTTP_PORT']}/predictions/tiny", data=png_bytes((220, 20, 30)), timeout=30,
                              headers={"Content-Type": "image/png", "Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()["model"]["name"] == "tiny"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        code = process.wait(60)
        log.close()
    assert code == 0, (tmp_path / "out.log").read_text()[-3000:]


@pytest.mark.parametrize(("setting", "says"), [
    ({"MODEL_STORE": "/nonexistent/store"}, "model store /nonexistent/store is not a directory"),
    ({"AUTH": "maybe"}, "AUTH=maybe is not one of: token, off"),
    ({"PROCESSES": "two"}, "PROCESSES=two is not a whole number of processes of at least 1"),
    ({"KEY_FILE": "/nonexistent/dir/key_file.json"}, "key file /nonexistent/dir/key_file.json is absent and its folder is not writable"),
    ({"TRUST_POLICY": "/nonexistent/trust.yaml"}, "trust policy /nonexistent/trust.yaml is not readable"),
])
def test_a_wrong_input_stops_the_entrypoint_with_78_and_one_line_naming_it(tiny_store, tmp_path, setting, says):
    env = environment(tiny_store, tmp_path, **setting)
    if "TRUST_POLICY" not in setting:
        env.pop("TRUST_POLICY")
    env.pop("SERVING_SETTINGS")
    done = subprocess.run([str(ENTRYPOINT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == BAD_INPUT
    assert done.stderr.strip() == f"entrypoint: {says}" or done.stderr.strip().startswith(f"entrypoint: {says}")


def test_an_empty_store_is_refused_naming_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = environment(empty, tmp_path)
    done = subprocess.run([str(ENTRYPOINT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == BAD_INPUT and f"model store {empty} holds no .mar archive" in done.stderr
