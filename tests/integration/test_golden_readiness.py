"""A TorchServe worker replays the archive's golden examples before it reports ready: an archive whose golden
answer does not reproduce (here: its manifest rewritten, consistently, to expect another label) is never served,
and the log says which example differs and how."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from harness import TorchServeProcess

from helpers import REPO
from integration_helpers import rewrite_manifest

pytestmark = pytest.mark.integration
CONFIG = REPO / "config" / "config.properties"


def test_a_worker_whose_golden_examples_do_not_reproduce_never_becomes_ready(tiny_store: Path, tmp_path: Path):
    store = tmp_path / "store"
    store.mkdir()

    def expect_another_label(spec: dict) -> None:
        spec["golden"][0]["expected"] = {"predictions": [{"label": "no such label"}]}

    rewrite_manifest(tiny_store / "tiny.mar", store / "tiny.mar", expect_another_label)
    with TorchServeProcess(CONFIG, store, tmp_path / "ts") as process:
        process.wait_listening()
        said = "its golden examples do not reproduce here, so this worker does not serve it"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and said not in process.log_text():
            time.sleep(0.5)
        log = process.log_text()
        assert said in log
        assert "predictions[0].label: expected 'no such label', got" in log
        status = process.client.status("tiny")
        assert all(worker["status"] != "READY" for entry in status.body for worker in entry["workers"])
    shutil.rmtree(tmp_path / "ts", ignore_errors=True)
