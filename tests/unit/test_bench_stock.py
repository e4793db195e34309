"""The stock handler's peers (benchmarks/stock.py, benchmarks/stock_onnx.py) without a stock venv: the venv's stamp,
the archiver's command, the ONNX graph taken from our archive, and the ONNX handler's own code on a tiny graph with
TorchServe's classes stood in for."""

from __future__ import annotations

import ast
import importlib.util
import json
import shlex
import sys
import zipfile
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

from benchmarks import stock, stock_onnx
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


def test_the_onnx_archive_is_made_with_the_handler_file_the_graph_labels_and_settings(tmp_path):
    venv, log = _fake_archiver(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"graph")
    (tmp_path / "labels.txt").write_text("cat\n\ndog\n", encoding="utf-8")
    serving = {"minWorkers": 2, "maxWorkers": 2, "batchSize": 4, "maxBatchDelay": 5, "responseTimeout": 60}
    out = stock_onnx.build_stock_onnx_archive(venv, tmp_path / "model.onnx", tmp_path / "labels.txt", tmp_path / "store",
                                              "stock_onnx", serving)
    assert out == tmp_path / "store" / "stock_onnx.mar"
    options = _options(log.read_text(encoding="utf-8"))
    assert options["--handler"] == str(stock_onnx.HANDLER) and stock_onnx.HANDLER.is_file()
    assert options["--serialized-file"] == str(tmp_path / "model.onnx")
    assert (options["--model-name"], options["--export-path"]) == ("stock_onnx", str(tmp_path / "store"))
    assert json.loads(Path(options["--extra-files"]).read_text(encoding="utf-8")) == {"0": "cat", "1": "dog"}
    assert Path(options["--config-file"]).read_text(encoding="utf-8").splitlines() == [f"{k}: {v}" for k, v in serving.items()]


def test_the_torchscript_archive_takes_the_same_path_with_the_stock_handler_and_no_config(tmp_path):
    venv, log = _fake_archiver(tmp_path)
    (tmp_path / "labels.txt").write_text("cat\n", encoding="utf-8")
    model = stock.StockModel(tmp_path / "model.pt", tmp_path / "check.pt")
    stock.build_stock_archive(venv, model, tmp_path / "labels.txt", tmp_path / "store", "stock_default")
    options = _options(log.read_text(encoding="utf-8"))
    assert (options["--handler"], options["--serialized-file"]) == ("image_classifier", str(model.torchscript))
    assert "--config-file" not in options


def test_the_graph_is_taken_from_the_archive_and_an_archive_without_one_is_named(tmp_path):
    onnx_mar, eager_mar = tmp_path / "ours.mar", tmp_path / "eager.mar"
    with zipfile.ZipFile(onnx_mar, "w") as mar:
        mar.writestr(stock_onnx.ONNX_ENTRY, b"the graph")
    with zipfile.ZipFile(eager_mar, "w") as mar:
        mar.writestr("manifest.json", json.dumps({"spec": {"model": {"format": "eager"}}}))
    assert stock_onnx.extract_onnx(onnx_mar, tmp_path / "out").read_bytes() == b"the graph"
    with pytest.raises(StockError, match=r"eager.mar holds no model/model.onnx \(model format eager\): .*model.format: onnx"):
        stock_onnx.extract_onnx(eager_mar, tmp_path / "out2")


def test_the_handler_file_defines_exactly_one_class_the_stock_image_classifier_subclassed():
    tree = ast.parse(stock_onnx.HANDLER.read_text(encoding="utf-8"))
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]  # TorchServe takes the one class it defines
    assert [(c.name, [ast.unparse(base) for base in c.bases]) for c in classes] == [("OnnxImageClassifier", ["ImageClassifier"])]
    assert {"initialize", "inference"} == {node.name for node in classes[0].body if isinstance(node, ast.FunctionDef)}


@pytest.fixture
def handler_module(monkeypatch):
    """The handler file imported with TorchServe's modules stood in for (the real ones live in the stock venv only)."""
    onnx = pytest.importorskip("onnx")

    class ImageClassifier:
        def __init__(self):
            self.context, self.model, self.mapping, self.initialized = None, None, None, False

    def load_label_mapping(path):
        return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).is_file() else None

    stand_ins = {"ts": {}, "ts.torch_handler": {}, "ts.torch_handler.image_classifier": {"ImageClassifier": ImageClassifier},
                 "ts.handler_utils": {}, "ts.handler_utils.timer": {"timed": lambda function: function},
                 "ts.utils": {}, "ts.utils.util": {"load_label_mapping": load_label_mapping}}
    for name, names in stand_ins.items():
        module = ModuleType(name)
        vars(module).update(names)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("_test_onnx_image_classifier", stock_onnx.HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, onnx


def _tiny_graph(onnx, path: Path, weights: np.ndarray) -> None:
    """``linear = inputs @ weights`` with a free batch dimension, named as our exported graph's input and output."""
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["inputs", "weights"], ["linear"])], "tiny",
        [helper.make_tensor_value_info("inputs", onnx.TensorProto.FLOAT, ["batch", weights.shape[0]])],
        [helper.make_tensor_value_info("linear", onnx.TensorProto.FLOAT, ["batch", weights.shape[1]])],
        [onnx.numpy_helper.from_array(weights, "weights")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


@pytest.mark.parametrize(("variable", "threads"), [(None, 1), ("2", 2)])
def test_the_handler_runs_the_batch_through_onnx_runtime_and_answers_torch(handler_module, tmp_path, monkeypatch, variable,
                                                                              threads):
    module, onnx = handler_module
    if variable is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", variable)
    weights = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    _tiny_graph(onnx, tmp_path / "model.onnx", weights)
    (tmp_path / "index_to_name.json").write_text(json.dumps({"0": "a", "1": "b", "2": "c"}), encoding="utf-8")
    handler = module.OnnxImageClassifier()
    handler.initialize(SimpleNamespace(system_properties={"model_dir": str(tmp_path)},
                                       manifest={"model": {"serializedFile": "model.onnx"}}))
    batch = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]])
    out = handler.inference(batch)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)
    assert out.numpy() == pytest.approx(batch.numpy() @ weights, abs=1e-5)
    assert handler.mapping == {"0": "a", "1": "b", "2": "c"} and handler.initialized
    options = handler.model.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)
    assert options.execution_mode == module.onnxruntime.ExecutionMode.ORT_SEQUENTIAL


@pytest.fixture
def stock_steps(monkeypatch, tmp_path):
    """compare's stock preparation with the stock venv's steps stood in for: each archive is a file named by its model."""
    from benchmarks import compare

    def archive(_venv, _model, _labels, out_dir, name, _serving=None):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.mar").write_bytes(b"mar")
        return out_dir / f"{name}.mar"

    monkeypatch.setattr(stock, "ensure_stock_venv", lambda progress: tmp_path / "venv")
    monkeypatch.setattr(stock, "trace_network", lambda out_dir, photo: stock.StockModel(out_dir / "model.pt", out_dir / "check.pt"))
    monkeypatch.setattr(stock, "verify_in_stock", lambda venv, model: {"torch": "x", "max_abs_diff": 0.0})
    monkeypatch.setattr(stock, "build_stock_archive", archive)
    monkeypatch.setattr(stock_onnx, "verify_onnx_in_stock", lambda venv, onnx, check: {"onnxruntime": "y", "max_abs_diff": 0.0})
    monkeypatch.setattr(stock_onnx, "build_stock_onnx_archive", archive)
    monkeypatch.setattr(compare, "_photo", lambda: tmp_path / "photo.png")
    return compare


SETTINGS = {"minWorkers": 2, "maxWorkers": 2, "batchSize": 2, "maxBatchDelay": 1, "responseTimeout": 60}


def test_compare_prepares_the_onnx_peer_from_the_archive_it_compares(stock_steps, tmp_path):
    ours = tmp_path / "ours.mar"
    with zipfile.ZipFile(ours, "w") as mar:
        mar.writestr(stock_onnx.ONNX_ENTRY, b"our graph")
    figures = stock_steps.Figures()
    prepared = stock_steps._prepare_stock(ours, SETTINGS, tmp_path / "stock", figures, lambda _: None)
    assert prepared.onnx_tuned == tmp_path / "stock" / "store" / "stock_onnx.mar" and figures.errors == {}
    assert (tmp_path / "stock" / "onnx" / "model.onnx").read_bytes() == b"our graph"


def test_an_archive_without_an_onnx_graph_keeps_the_torchscript_peers_and_says_why(stock_steps, tmp_path):
    ours = tmp_path / "ours.mar"
    with zipfile.ZipFile(ours, "w") as mar:
        mar.writestr("manifest.json", json.dumps({"spec": {"model": {"format": "aoti"}}}))
    figures = stock_steps.Figures()
    prepared = stock_steps._prepare_stock(ours, SETTINGS, tmp_path / "stock", figures, lambda _: None)
    assert prepared.onnx_tuned is None and prepared.tuned.name == "stock_tuned.mar"
    assert list(figures.errors) == ["stock_onnx"]
    assert "ours.mar holds no model/model.onnx (model format aoti)" in figures.errors["stock_onnx"]
