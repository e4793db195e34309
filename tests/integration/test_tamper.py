"""What TorchServe is handed, and what its workers check, against a real TorchServe.

- Given a ``.mar`` with a hidden entry, TorchServe runs the hidden code (the attack is real: its marker file
  appears), which is why no engine is handed a zip;
- ``TorchServeProcess`` (as ``serve.sh``) refuses every tamper variant before Java starts;
- a worker checks every unpacked file against the manifest before it imports any module of the archive: a
  module changed after unpacking never runs, and the log names it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from benchmarks.tampering import HIDDEN, marker_for
from harness import TorchServeProcess
from markit.archive.mar_file import MarFileError
from markit.archive.unpack import unpack_store

from helpers import REPO

pytestmark = pytest.mark.integration
CONFIG = REPO / "config" / "config.properties"


def wait_for_text(process: TorchServeProcess, text: str, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in process.log_text():
        time.sleep(0.5)
    return text in process.log_text()


def test_torchserve_given_the_zip_runs_the_hidden_entry_module(tiny_store: Path, tmp_path: Path):
    """Without markit.archive.unpack in front: TorchServe's Java unpacker runs what no check of the zip ever saw."""
    store = tmp_path / "store"
    store.mkdir()
    tampered = HIDDEN["the entry module hidden after the last member"].make(tiny_store / "tiny.mar", store / "tiny.mar")
    with TorchServeProcess(CONFIG, store, tmp_path / "ts", unpack=False) as process:
        process.wait_listening()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not marker_for(tampered).exists():
            time.sleep(0.5)
    assert marker_for(tampered).read_text() == "ran"


@pytest.mark.parametrize("variant", ["the entry module hidden after the last member",
                                     "runtime/tasks/convention/handler.py hidden after the last member",
                                     "the entry module twice"])
def test_torchserve_process_refuses_a_hidden_entry_before_java_starts(tiny_store: Path, tmp_path: Path, variant: str):
    store = tmp_path / "store"
    store.mkdir()
    tampered = HIDDEN[variant].make(tiny_store / "tiny.mar", store / "tiny.mar")
    process = TorchServeProcess(CONFIG, store, tmp_path / "ts")
    with pytest.raises(MarFileError, match=HIDDEN[variant].message):
        process.start()
    assert process.process is None and not marker_for(tampered).exists()


def test_a_worker_imports_nothing_from_an_archive_changed_after_unpacking(tiny_store: Path, tmp_path: Path):
    served = tmp_path / "served"
    [unpacked] = unpack_store(tiny_store, served)
    marker = tmp_path / "convention.ran"
    module = unpacked.directory / "runtime" / "tasks" / "convention" / "handler.py"
    module.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n" + module.read_text())
    with TorchServeProcess(CONFIG, served, tmp_path / "ts", unpack=False) as process:
        process.wait_listening()
        assert wait_for_text(process, "archive file 'runtime/tasks/convention/handler.py' was modified after build")
        status = process.client.status("tiny")
        assert all(worker["status"] != "READY" for entry in status.body for worker in entry["workers"])
    assert not marker.exists()
    shutil.rmtree(tmp_path / "ts", ignore_errors=True)
