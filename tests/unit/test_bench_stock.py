"""The stock handler's peer (benchmarks/stock.py) without a stock venv: the venv's stamp and the archiver's command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from benchmarks import stock
from benchmarks.stock import PACKAGES, StockError, ensure_stock_venv, missing_packages

BEFORE_ONNX = [package for package in PACKAGES if not package.startswith("onnxruntime")]


@pytest.mark.parametrize(("stamp", "missing"), [
    (None, list(PACKAGES)),                                                      # no stamp: install all (pip skips what is there)
    ("\n".join(BEFORE_ONNX) + "\n", ["onnxruntime==1.32.0"]),                    # a venv made before onnxruntime joined
    ("\n".join(PACKAGES) + "\n", []),
    ("\n".join(PACKAGES).replace("torch==2.14.1", "torch==2.13.0") + "\n", ["torch==2.14.1"]),  # a changed pin
])
def test_missing_packages_are_those_the_stamp_does_not_list(stamp, missing):
    assert missing_packages(stamp) == missing


def _recorder(path: Path, log: Path, then: str = "") -> None:
    """An executable at ``path`` that appends its arguments to ``log`` as one line, then runs ``then``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(log))}\n{then}\n', encoding="utf-8")
    path.chmod(0o755)


def test_an_existing_venv_gets_only_the_missing_package_and_is_not_rebuilt(tmp_path):
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    _recorder(venv / "bin" / "python", log)
    (venv / ".bench-packages").write_text("\n".join(BEFORE_ONNX) + "\n", encoding="utf-8")
    said: list[str] = []
    assert ensure_stock_venv(venv, progress=said.append) == venv
    assert log.read_text(encoding="utf-8").splitlines() == ["-m pip install --quiet --disable-pip-version-check onnxruntime==1.32.0"]
    assert said == [f"adding onnxruntime==1.32.0 to {venv} ..."]
    assert (venv / ".bench-packages").read_text(encoding="utf-8") == "\n".join(PACKAGES) + "\n"
    ensure_stock_venv(venv, progress=said.append)  # stamped now: nothing runs
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1 and len(said) == 1


def test_a_failed_install_leaves_the_stamp_as_it_was(tmp_path):
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    _recorder(venv / "bin" / "python", log, then="echo 'no such version' >&2; exit 1")
    stamp = "\n".join(BEFORE_ONNX) + "\n"
    (venv / ".bench-packages").write_text(stamp, encoding="utf-8")
    with pytest.raises(StockError, match=r"installing the stock venv failed \(exit 1\):\s+no such version"):
        ensure_stock_venv(venv, progress=lambda _: None)
    assert (venv / ".bench-packages").read_text(encoding="utf-8") == stamp


def _fake_archiver(tmp_path: Path) -> tuple[Path, Path]:
    venv, log = tmp_path / "venv", tmp_path / "archiver.log"
    _recorder(venv / "bin" / "torch-model-archiver", log)
    return venv, log


def _options(line: str) -> dict[str, str]:
    words = line.split()
    return {word: words[i + 1] for i, word in enumerate(words) if word.startswith("--") and word != "--force"}


def test_the_torchscript_archive_takes_the_same_path_with_the_stock_handler_and_no_config(tmp_path):
    venv, log = _fake_archiver(tmp_path)
    (tmp_path / "labels.txt").write_text("cat\n", encoding="utf-8")
    model = stock.StockModel(tmp_path / "model.pt", tmp_path / "check.pt")
    stock.build_stock_archive(venv, model, tmp_path / "labels.txt", tmp_path / "store", "stock_default")
    options = _options(log.read_text(encoding="utf-8"))
    assert (options["--handler"], options["--serialized-file"]) == ("image_classifier", str(model.torchscript))
    assert "--config-file" not in options
