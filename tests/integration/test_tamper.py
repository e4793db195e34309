"""A worker refuses to serve an archive whose files changed after build, and the log names the file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from markit.ops import TorchServeProcess

from helpers import REPO, tamper

pytestmark = pytest.mark.integration


@pytest.fixture
def tampered_server(store: Path, tmp_path: Path):
    tampered_store = tmp_path / "store"
    tampered_store.mkdir()
    tamper(store / "tiny.mar", tampered_store / "tiny.mar", "index_to_name.json", b'{"0": "cat", "1": "green", "2": "blue"}')
    with TorchServeProcess(REPO / "config" / "config.properties", tampered_store, tmp_path / "ts") as process:
        yield process
    shutil.rmtree(tmp_path / "ts", ignore_errors=True)


def test_tampered_archive_is_refused_and_the_file_named(tampered_server):
    tampered_server.wait_listening()
    deadline = time.monotonic() + 90
    message = "archive file 'index_to_name.json' was modified after build"
    while time.monotonic() < deadline and message not in tampered_server.log_text():
        time.sleep(0.5)
    assert message in tampered_server.log_text()
    status = tampered_server.client.status("tiny")
    assert all(w["status"] != "READY" for entry in status.body for w in entry["workers"])
