"""A real TorchServe started from what ./scripts/kserve_layout.sh lays out, the way KServe's
TorchServe runtime starts it: the laid-out config (private loopback ports substituted, inference and
management on one port as in KServe) and model store, with TS_SERVICE_ENVELOPE set as KServe sets
it. Every model of the snapshot loads with the archive's own settings and answers without a token."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness import TorchServeProcess, free_port
from markit.client.health import Probe, Unhealthy
from markit.client.properties import read_properties

from helpers import REPO, png_bytes, reference_answer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def layout(tiny_mar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("kserve-store")
    shutil.copy(tiny_mar, store)
    out = tmp_path_factory.mktemp("kserve") / "layout"
    result = subprocess.run([str(REPO / "scripts" / "kserve_layout.sh"), str(store), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tiny 1.0 (tiny.mar)" in result.stdout
    return out


@pytest.fixture(scope="module")
def kserved(layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TorchServeProcess, str]]:
    url = f"http://127.0.0.1:{free_port()}"
    server = TorchServeProcess(layout / "config" / "config.properties", layout / "model-store", tmp_path_factory.mktemp("kserve-ts"),
                               overrides={"inference_address": url, "management_address": url},
                               env={"TS_SERVICE_ENVELOPE": "kserve"},  # what KServe's runtime sets
                               unpack=False)  # the layout's model-store, as KServe's TorchServe reads it: checked, unpacked
    server.start()
    try:
        probe = Probe.from_config(server.config_path)  # token auth is off: the probe needs no key file
        deadline, reason = time.monotonic() + 180, ""
        while time.monotonic() < deadline:
            assert server.process.poll() is None, f"TorchServe exited\n{server.log_tail()}"
            try:
                probe.ready()
                break
            except Unhealthy as err:
                reason = str(err)
                time.sleep(0.5)
        else:
            pytest.fail(f"not ready after 180 s: {reason}\n{server.log_tail()}")
        yield server, url
    finally:
        server.stop()


def snapshot(layout: Path) -> dict:
    return json.loads(read_properties(layout / "config" / "config.properties")["model_snapshot"])


def test_every_model_of_the_snapshot_loads_with_its_archives_settings(kserved, layout):
    _, url = kserved
    models = snapshot(layout)["models"]
    listed = requests.get(url + "/models", timeout=10).json()["models"]  # no token: auth is off
    assert sorted(m["modelName"] for m in listed) == sorted(models)
    for name, versions in models.items():
        # /models/NAME only: with both APIs on one port, TorchServe 0.12 answers /models/NAME/VERSION with 404
        (described,) = requests.get(f"{url}/models/{name}", timeout=10).json()
        entry = versions[described["modelVersion"]]
        for key in ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout"):
            assert described[key] == entry[key], key
        assert any(worker["status"] == "READY" for worker in described["workers"])


def test_predictions_need_no_token_and_no_envelope_wraps_the_handler(kserved, layout):
    server, url = kserved
    assert not (server.root / "work" / "key_file.json").exists()
    reply = requests.post(url + "/predictions/tiny", data=png_bytes((220, 20, 30)), headers={"Content-Type": "image/png"},
                          timeout=60)
    # with TS_SERVICE_ENVELOPE=kserve honoured, TorchServe's envelope would fail this raw image with a 503
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [p["label"] for p in body["predictions"]] == [p["label"] for p in reference_answer()["predictions"]]
    assert body["model"]["name"] == "tiny"


def test_kserve_requests_are_answered_by_the_handlers(kserved):
    """What KServe's wrapper forwards: v1 and v2 bodies, several instances each, to the laid-out server."""
    _, url = kserved
    image = base64.b64encode(png_bytes((220, 20, 30))).decode()
    expected = [p["label"] for p in reference_answer()["predictions"]]
    v1 = requests.post(f"{url}/v1/models/tiny:predict", json={"instances": [{"b64": image}, {"b64": image}]}, timeout=60)
    assert v1.status_code == 200, v1.text
    assert [[p["label"] for p in answer["predictions"]] for answer in v1.json()["predictions"]] == [expected, expected]
    tensor = {"name": "image", "shape": [2], "datatype": "BYTES", "data": [image, image], "parameters": {"content_type": "base64"}}
    v2 = requests.post(f"{url}/v2/models/tiny/infer", json={"id": "r1", "inputs": [tensor]}, timeout=60)
    assert v2.status_code == 200, v2.text
    body = v2.json()
    assert (body["id"], body["model_name"], body["outputs"][0]["shape"]) == ("r1", "tiny", [2])
    assert [[p["label"] for p in json.loads(text)["predictions"]] for text in body["outputs"][0]["data"]] == [expected, expected]
