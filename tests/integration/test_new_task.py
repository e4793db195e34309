"""A task from outside markit is one folder and one registration, touching nothing else.

The throwaway ``echo`` task (tests/data/echo_task: ``handler.py``, ``build.py``) is installed in a temporary
directory with one entry point (``[markit.tasks] echo = echo_task``). Its archive builds, its manifest
matches the JSON Schema, and it answers offline and on a real TorchServe (whose worker runs the archive's
own copy of the task, with no access to the temporary package), with the same answers."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from harness import TorchServeProcess
from markit.builder import build_archive
from markit.builder.tasks import TASKS
from markit.offline import LocalArchive, LocalRequest
from markit.schemas.generate import manifest_schema
from markit.tasks import BUILT_IN

from helpers import REPO, install_echo_task, quiet, write_echo_spec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registered(tmp_path_factory) -> Iterator[Path]:
    """The echo task installed in a temporary directory, registered while the module's tests run."""
    root = tmp_path_factory.mktemp("echo")
    site = str(install_echo_task(root))
    sys.path.insert(0, site)
    try:
        yield root
    finally:
        sys.path.remove(site)
        sys.modules.pop("markit.tasks.echo", None)


@pytest.fixture(scope="module")
def echo_mar(registered) -> Path:
    return build_archive(write_echo_spec(registered / "spec"), registered / "store", progress=quiet).path


def test_the_archive_carries_the_task_and_its_manifest_matches_the_schema(echo_mar):
    with zipfile.ZipFile(echo_mar) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert "runtime/tasks/echo/handler.py" in names and "runtime/tasks/echo/build.py" not in names
    assert manifest["spec"]["task"] == "echo" and manifest["spec"]["echo"] == {"reply": "hi"}
    assert "echo" in TASKS  # registered by its entry point: the schema for the built-in tasks and it
    jsonschema.validate(manifest, manifest_schema((*BUILT_IN, "echo")))
    with pytest.raises(jsonschema.ValidationError, match="reply"):
        jsonschema.validate({**manifest, "spec": {**manifest["spec"], "echo": {}}}, manifest_schema((*BUILT_IN, "echo")))


def test_it_answers_offline_and_on_torchserve_alike(echo_mar, tmp_path):
    good, bad = LocalRequest.raw(b"[1, 2, 3, 4]", "application/json"), LocalRequest.raw(b"[1, 2]", "application/json")
    with LocalArchive(echo_mar) as local:
        offline = [(r.status, r.body) for r in local.predict([good, bad])]
    assert offline[0][0] == 200 and offline[0][1]["reply"] == "hi"
    assert offline[1][0] == 400 and "expected a JSON list of 4 numbers" in offline[1][1]["message"]
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH")}  # the worker sees neither the temporary package nor its entry point
    with TorchServeProcess(REPO / "config" / "config.properties", echo_mar.parent, tmp_path / "ts", env=env) as server:
        server.wait_ready(["echo"])
        served = [server.client.predict_bytes("echo", r.fields["body"], "application/json") for r in (good, bad)]
    assert [(reply.status, reply.body) for reply in served] == offline
