"""Operating a real TorchServe with ``python -m markit.client`` (run as a user would) and the client:
two versions of one model side by side, the default switched, workers scaled, a version
unregistered, and TorchServe's own messages surfaced for wrong calls."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from harness import TorchServeProcess
from markit.builder import build_archive
from markit.client import TorchServeClient
from markit.client.tokens import KeyFile

from helpers import REPO, png_bytes, reference_answer, write_tiny_spec
from integration_helpers import quiet

pytestmark = pytest.mark.integration

MODEL = "tiny"
SEEDS = {"1.0": 0, "2.0": 1}  # different weights, so the answer tells which version gave it
RED = png_bytes((220, 20, 30))  # the input reference_answer() is computed for


@dataclass(frozen=True)
class Versions:
    store: Path
    identities: dict[str, str]  # version -> the identity the builder wrote into the manifest


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """tiny-1.0.mar and tiny-2.0.mar: one model name, two versions built from different weights."""
    store = tmp_path_factory.mktemp("versions") / "model_store"
    store.mkdir()
    identities = {}
    for version, seed in SEEDS.items():
        spec = write_tiny_spec(tmp_path_factory.mktemp(f"spec-{version}"), seed=seed)
        built = build_archive(spec, tmp_path_factory.mktemp(f"build-{version}"), progress=quiet, overrides=[f"version={version}"])
        shutil.copyfile(built.path, store / f"{MODEL}-{version}.mar")
        identities[version] = built.manifest["identity"]
    return Versions(store, identities)


@pytest.fixture(scope="module")
def server(versions: Versions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    """Model API on; only 'resident' (the 1.0 archive under another name) is loaded at start."""
    overrides = {"enable_model_api": "true", "load_models": f"resident={MODEL}-1.0.mar"}
    with TorchServeProcess(REPO / "config" / "config.properties", versions.store, tmp_path_factory.mktemp("management"),
                           overrides=overrides) as process:
        process.wait_ready(["resident"])
        yield process


@pytest.fixture(scope="module")
def registered(server: TorchServeProcess) -> dict[str, subprocess.CompletedProcess]:
    """Both versions of 'tiny' registered through the CLI, 1.0 first (so it is the default)."""
    return {version: tsclient(server, "register", f"{MODEL}-{version}.mar") for version in SEEDS}


@pytest.fixture(scope="module")
def red_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "red.png"
    path.write_bytes(RED)
    return path


def tsclient(server: TorchServeProcess, *args: str, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """``python -m markit.client --config CONFIG ARGS`` from TorchServe's working directory, where its key_file.json is."""
    result = subprocess.run([sys.executable, "-m", "markit.client", "--config", str(server.root / "work" / "config.properties"), *args],
                            cwd=cwd or server.root / "work", input=stdin, capture_output=True, timeout=180)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


def answer(result: subprocess.CompletedProcess) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def from_version(body: dict[str, Any], version: str) -> bool:
    """The served answer is the one the eager model of that version's seed gives, and says so."""
    expected = [(p["label"], pytest.approx(p["probability"], abs=1e-5)) for p in reference_answer(SEEDS[version])["predictions"]]
    return body["model"]["version"] == version and [(p["label"], p["probability"]) for p in body["predictions"]] == expected


def workers(server: TorchServeProcess, version: str) -> list[dict[str, Any]]:
    return answer(tsclient(server, "status", MODEL, "--version", version))[0]["workers"]


def test_two_versions_are_served_side_by_side(server, registered):
    for version, result in registered.items():
        assert f'Model "{MODEL}" Version: {version} registered' in answer(result)["status"]
    listed = answer(tsclient(server, "status", MODEL, "--version", "all"))
    assert [entry["modelVersion"] for entry in listed] == ["1.0", "2.0"]
    assert [[w["status"] for w in entry["workers"]] for entry in listed] == [["READY"], ["READY"]]
    names = [m["modelName"] for m in answer(tsclient(server, "list"))["models"]]
    assert names == ["resident", MODEL]  # GET /models: one entry per name, however many versions


def test_each_version_answers_when_asked_by_path(server, registered, versions, red_png):
    first, second = (answer(tsclient(server, "predict", MODEL, str(red_png), "--version", v)) for v in SEEDS)
    assert from_version(first, "1.0") and from_version(second, "2.0")
    assert first["predictions"][0]["label"] != second["predictions"][0]["label"]  # the seeds' answers really differ
    assert [first["model"]["identity"], second["model"]["identity"]] == list(versions.identities.values())


def test_stdin_and_json_inputs(server, registered):
    piped = answer(tsclient(server, "predict", MODEL, "-", "--content-type", "image/png", "--version", "2.0", stdin=RED))
    assert from_version(piped, "2.0")
    encoded = json.dumps({"image": base64.b64encode(RED).decode(), "top_k": 1})
    sent = answer(tsclient(server, "predict", MODEL, "--json", encoded, "--version", "2.0"))
    assert sent["predictions"] == piped["predictions"][:1]


def test_set_default_switches_the_unversioned_answer(server, registered, red_png):
    assert from_version(answer(tsclient(server, "predict", MODEL, str(red_png))), "1.0")  # the first registered
    try:
        assert "to \"2.0\"" in answer(tsclient(server, "set-default", MODEL, "2.0"))["status"]
        assert from_version(answer(tsclient(server, "predict", MODEL, str(red_png))), "2.0")
        assert answer(tsclient(server, "status", MODEL))[0]["modelVersion"] == "2.0"
    finally:
        assert tsclient(server, "set-default", MODEL, "1.0").returncode == 0
    assert from_version(answer(tsclient(server, "predict", MODEL, str(red_png))), "1.0")


def test_a_version_in_the_query_string_is_ignored_so_the_client_puts_it_in_the_path(server, registered):
    """TorchServe 0.12 answers ``?version=2.0`` from the default version, without an error."""
    headers = {"Authorization": f"Bearer {server.client.token('inference')}", "Content-Type": "image/png"}
    queried = requests.post(server.url("inference") + f"/predictions/{MODEL}", params={"version": "2.0"}, data=RED,
                            headers=headers, timeout=60)
    assert queried.status_code == 200 and from_version(queried.json(), "1.0")
    assert from_version(server.client.predict_bytes(MODEL, RED, "image/png", version="2.0").body, "2.0")
    assert server.client.status(MODEL, "2.0").body[0]["modelVersion"] == "2.0"


def test_describe_prints_the_manifest_of_each_version(server, registered, versions):
    for version, identity in versions.identities.items():
        manifest = answer(tsclient(server, "describe", MODEL, "--version", version))
        assert (manifest["spec"]["version"], manifest["identity"]) == (version, identity)
    assert answer(tsclient(server, "describe", MODEL))["identity"] == versions.identities["1.0"]  # the default
    # why describe refuses 'all': TorchServe leaves the manifest out of GET /models/NAME/all?customized=true
    every = server.client.status(MODEL, "all", customized=True).body
    assert len(every) == 2 and not any("customizedMetadata" in entry for entry in every)
    refused = tsclient(server, "describe", MODEL, "--version", "all")
    assert refused.returncode == 2 and "describe needs one version" in refused.stderr


def test_scale_one_version_up_and_down(server, registered):
    before = {w["pid"] for w in workers(server, "1.0")}
    up = tsclient(server, "scale", MODEL, "--version", "2.0", "--min", "2", "--max", "2")
    assert "Workers scaled to 2" in answer(up)["status"]
    try:
        assert [w["status"] for w in workers(server, "2.0")] == ["READY", "READY"]
        assert {w["pid"] for w in workers(server, "1.0")} == before  # the other version is untouched
    finally:
        down = tsclient(server, "scale", MODEL, "--version", "2.0", "--min", "1", "--max", "1")
    assert "Workers scaled to 1" in answer(down)["status"]
    assert len(workers(server, "2.0")) == 1
    entry = answer(tsclient(server, "status", MODEL, "--version", "2.0"))[0]
    assert (entry["minWorkers"], entry["maxWorkers"]) == (1, 1)


def test_register_under_another_name_and_unregister_versions(server, registered):
    for version in SEEDS:
        result = tsclient(server, "register", f"{MODEL}-{version}.mar", "--name", "scratch", "--batch-size", "2",
                          "--max-batch-delay", "7")
        assert answer(result)["status"].startswith('Model "scratch" Version: ' + version)
    entry = answer(tsclient(server, "status", "scratch"))[0]
    assert (entry["modelVersion"], entry["batchSize"], entry["maxBatchDelay"]) == ("1.0", 2, 7)
    default = tsclient(server, "unregister", "scratch", "--version", "1.0")
    assert default.returncode == 1
    assert default.stderr.strip() == "HTTP 403 InvalidModelVersionException: Cannot remove default version for model scratch"
    assert answer(tsclient(server, "unregister", "scratch", "--version", "2.0"))["status"] == 'Model "scratch" unregistered'
    assert [e["modelVersion"] for e in answer(tsclient(server, "status", "scratch", "--version", "all"))] == ["1.0"]
    assert answer(tsclient(server, "register", f"{MODEL}-2.0.mar", "--name", "scratch"))
    # without a version TorchServe removes the default version, so not while another one is registered
    assert tsclient(server, "unregister", "scratch").stderr == default.stderr
    assert tsclient(server, "unregister", "scratch", "--version", "2.0").returncode == 0
    assert tsclient(server, "unregister", "scratch").returncode == 0
    gone = tsclient(server, "status", "scratch")
    assert gone.returncode == 1 and gone.stdout == ""


@pytest.mark.parametrize(("args", "status", "fragment"), [
    (["status", "nope"], 404, "Model not found: nope"),
    (["predict", MODEL, "{red}", "--version", "9.0"], 404, "Model version: 9.0 does not exist"),
    (["set-default", MODEL, "9.0"], 404, "Model version 9.0 does not exist for model tiny"),
    (["register", "{outside}"], 404, "does not match any allowed URL(s)"),
    (["register", f"{MODEL}-1.0.mar"], 409, "Model version 1.0 is already registered for model tiny"),
    (["scale", MODEL, "--min", "3", "--max", "1"], 400, "max_worker cannot be less than min_worker"),
    (["predict", MODEL, "-", "--content-type", "image/png"], 400, "the request body is empty"),
])
def test_wrong_calls_print_torchserve_own_message(server, registered, red_png, tmp_path, args, status, fragment):
    outside = tmp_path / "tiny.mar"  # an archive outside the store: allowed_urls refuses it
    shutil.copyfile(server.model_store / f"{MODEL}-1.0.mar", outside)
    args = [a.format(red=red_png, outside=outside.as_uri()) for a in args]
    result = tsclient(server, *args, stdin=b"")
    assert (result.returncode, result.stdout) == (1, "")
    line = result.stderr.strip()
    assert line.startswith(f"HTTP {status} ") and fragment in line
    assert "\n" not in line


def test_a_missing_key_file_is_named(server, tmp_path):
    result = tsclient(server, "list", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"tsctl: {tmp_path / 'key_file.json'}: no key file; TorchServe writes key_file.json")


def test_pages_of_models(server, registered):
    client = TorchServeClient.from_config(server.root / "work" / "config.properties", server.client.key_file)
    first = client.list_models(limit=1)
    second = client.list_models(limit=1, next_page_token=first.body["nextPageToken"])
    paged = [m["modelName"] for page in (first, second) for m in page.body["models"]]
    assert paged == ["resident", MODEL] == client.models()
    cli = answer(tsclient(server, "list", "--limit", "1", "--page-token", first.body["nextPageToken"]))
    assert cli["models"] == second.body["models"]


def test_a_renewed_token_is_read_again_from_the_key_file(server, registered):
    """TorchServe refuses an old token with 400 InvalidKeyException; the client re-reads the file once."""
    client = TorchServeClient.from_config(server.root / "work" / "config.properties", server.client.key_file)
    assert client.status(MODEL).status == 200
    old = client.token("management")
    new = KeyFile(client.key_file).renew("management", client.management_url)
    refused = requests.get(client.management_url + "/models", headers={"Authorization": f"Bearer {old}"}, timeout=10)
    assert (refused.status_code, refused.json()["type"]) == (400, "InvalidKeyException")
    assert client.status(MODEL).status == 200
    assert client.token("management") == new != old
