"""The ONNX format: exported at build and checked as ONNX Runtime runs it; a worker without a recent
enough onnxruntime serves the eager model shipped beside it; same bytes and identity when rebuilt."""

from __future__ import annotations

import logging
import shutil
import sys

import pytest
import torch

from markit.builder import build_archive
from markit.core.loading import load_model
from markit.core.onnx_program import OnnxProgram, runtime_version, unmet_requirement
from markit.offline import LocalArchive, LocalRequest

from helpers import build_formats, mar_manifest, png_bytes, quiet, unpacked, write_tiny_spec


@pytest.mark.parametrize(("installed", "problem"), [
    ("1.32.0", None),
    ("1.33.1", None),
    ("2.0.0+cpu", None),
    ("1.31.9", "was verified with onnxruntime 1.32.0, this worker has 1.31.9"),
])
def test_the_installed_release_is_compared_with_the_verified_one(installed, problem):
    found = unmet_requirement({"onnxruntime": "1.32.0"}, installed)
    assert found is None if problem is None else problem in found


def test_a_worker_without_onnxruntime_is_told_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    assert runtime_version() is None
    assert "does not have installed" in unmet_requirement({"onnxruntime": "1.32.0"})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """tiny.mar exported to ONNX, and the same spec eager."""
    root = tmp_path_factory.mktemp("onnx")
    spec = write_tiny_spec(root / "spec")
    return build_formats(spec, root, ("onnx", "eager"))




def test_the_manifest_records_the_runtime_and_the_fallback(built):
    model = mar_manifest(built["onnx"])["spec"]["model"]
    assert model["format"] == "onnx" and model["file"] == "model/model.onnx"
    assert model["requires"] == {"onnxruntime": runtime_version()}
    assert model["fallback"]["format"] == "eager" and model["fallback"]["weights"] == "model/weights.safetensors"
    assert model["conversion"]["max_abs_diff"] <= model["conversion"]["tolerance"]


def test_the_onnx_archive_answers_like_the_eager_one(built):
    requests = [LocalRequest.raw(png_bytes(color), "image/png") for color in ((220, 20, 30), (10, 200, 40), (30, 30, 250))]
    answers = {}
    for fmt, mar in built.items():
        with LocalArchive(mar) as archive:
            answers[fmt] = [(r.status, r.body["predictions"]) for r in archive.predict(requests)]
    for (onnx_status, onnx), (eager_status, eager) in zip(answers["onnx"], answers["eager"], strict=True):
        assert onnx_status == eager_status == 200
        assert [p["label"] for p in onnx] == [p["label"] for p in eager]
        assert max(abs(a["probability"] - b["probability"]) for a, b in zip(onnx, eager, strict=True)) < 1e-5


def test_the_session_serves_with_the_workers_thread_count(built, tmp_path):
    root = unpacked(built["onnx"], tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loaded = load_model(root, mar_manifest(built["onnx"])["spec"]["model"])
    finally:
        torch.set_num_threads(before)
    assert loaded.format == "onnx" and loaded.fallback_reason is None
    assert isinstance(loaded.forward, OnnxProgram) and loaded.forward.threads == 1


def test_without_onnxruntime_the_eager_fallback_serves_and_says_why(built, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with caplog.at_level(logging.WARNING):
        loaded = load_model(unpacked(built["onnx"], tmp_path), mar_manifest(built["onnx"])["spec"]["model"])
    assert loaded.format == "eager" and "does not have installed" in loaded.fallback_reason
    assert "not serving the onnx program" in caplog.text and "serving the eager model shipped beside it" in caplog.text


def test_a_program_that_fails_to_load_gets_the_fallback(built, tmp_path):
    root = unpacked(built["onnx"], tmp_path)
    (root / "model" / "model.onnx").write_bytes(b"not a model")
    loaded = load_model(root, mar_manifest(built["onnx"])["spec"]["model"])
    assert loaded.format == "eager" and "failed to load" in loaded.fallback_reason


def test_rebuilding_elsewhere_gives_the_same_bytes_and_identity(built, tmp_path):
    spec_dir = tmp_path / "elsewhere" / "spec"
    shutil.copytree(built["onnx"].parents[1] / "spec", spec_dir)
    again = build_archive(spec_dir / "spec.yaml", tmp_path / "out", progress=quiet, overrides=["model.format=onnx"]).path
    first, second = mar_manifest(built["onnx"]), mar_manifest(again)
    assert second["files"]["model/model.onnx"] == first["files"]["model/model.onnx"]
    assert second["identity"] == first["identity"] != mar_manifest(built["eager"])["identity"]
