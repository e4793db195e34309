"""A real TorchServe (Java frontend + Python workers) on free loopback ports, token auth on, serving
archives built by the real builder. Its logs are attached to the report of any failing test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import KServeRuntimeProcess, TorchServeProcess
from markit.builder import build_archive

from helpers import REPO, write_tiny_spec
from integration_helpers import SHADOW_MESSAGE, quiet, rewrite_manifest

EXAMPLE = REPO / "examples" / "efficientnet_lite0"
@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """efficientnet_lite0.mar from the example spec, and tiny.mar with a long batch delay so batches form."""
    if not (EXAMPLE / "build" / "labels.txt").exists():
        subprocess.run([sys.executable, str(EXAMPLE / "prepare_labels.py")], check=True)
    root = tmp_path_factory.mktemp("store")
    build_archive(EXAMPLE / "spec.yaml", root, progress=quiet)
    serving = {"workers": 1, "batch_size": 4, "max_batch_delay": 2000}
    build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny-spec"), serving=serving), root, progress=quiet)
    # tiny compiled with AOTInductor, its manifest then claiming another torch: workers must serve its eager fallback
    compiled = build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny-aoti-spec")), tmp_path_factory.mktemp("aoti"),
                             progress=quiet, overrides=["name=tiny_fallback", "model.format=aoti"]).path
    rewrite_manifest(compiled, root / compiled.name, lambda spec: spec["model"]["requires"].update(torch="2.99.0"))
    # and exported to ONNX, its manifest then claiming a future onnxruntime: the same
    exported = build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny-onnx-spec")), tmp_path_factory.mktemp("onnx"),
                             progress=quiet, overrides=["name=tiny_onnx_fallback", "model.format=onnx"]).path
    rewrite_manifest(exported, root / exported.name, lambda spec: spec["model"]["requires"].update(onnxruntime="99.0.0"))
    # digits.mar (torch.export) and digits_eager.mar: trained and packaged in one path, as a user would
    subprocess.run([sys.executable, str(REPO / "examples" / "digits" / "train.py"), "--output", str(root)], check=True)
    for text_model in ("minilm_embeddings", "minilm_topics"):
        build_archive(REPO / "examples" / text_model / "spec.yaml", root, progress=quiet)
    subprocess.run([sys.executable, str(REPO / "examples" / "weather" / "train.py"), "--output", str(root)], check=True)
    # g2p_en.mar: g2p-en's weights ported, checked against the original decoder, measured, packaged (TorchScript)
    subprocess.run([sys.executable, str(REPO / "examples" / "g2p_en" / "port.py"), "--output", str(root)], check=True)
    # faces.mar: facenet-pytorch's MTCNN ported to torch (object_detection), its weights read from the package's files
    subprocess.run([sys.executable, str(REPO / "examples" / "faces" / "weights.py"), "--output",
                    str(REPO / "examples" / "faces" / "build")], check=True)
    build_archive(REPO / "examples" / "faces" / "spec.yaml", root, progress=quiet)
    # digit_boxes.mar and digit_segments.mar: a detector and a segmenter trained here on pages of sklearn's digits
    for example in ("digit_boxes", "digit_segments"):
        subprocess.run([sys.executable, str(REPO / "examples" / example / "train.py"), "--store", str(root)], check=True)
    # read_number.mar (digit_boxes.mar -> digits.mar), phonemes.mar (a table, else g2p_en.mar) and forecast.mar (the
    # weather archive whose capabilities name the area): pipelines pinned to the archives just built
    for example in ("read_number", "phonemes", "forecast"):
        subprocess.run([sys.executable, str(REPO / "examples" / example / "build.py"), "--store", str(root)], check=True)
    # the Seattle forecaster again, with a flagging guard, for a made-up area nothing else asks for
    flagged = ["name=weather_flagged", "model.weights=build/seattle/weights.safetensors", "metadata.capabilities.area=[Flagville]",
               "guards=[{feature: temperature_history, min: 40, max: 75, policy: flag}]",
               "golden=[{input: build/seattle/golden.json, expected: {units: {temperature_plus_1h: degF}}}]"]
    build_archive(REPO / "examples" / "weather" / "spec.yaml", root, progress=quiet, overrides=flagged)
    return root


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with only tiny.mar (batch size 1): for servers whose test is about the server, not the model."""
    root = tmp_path_factory.mktemp("tiny-store")
    build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny-spec-1"), serving={"workers": 1}), root, progress=quiet)
    return root


@pytest.fixture(scope="session")
def shadow_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PYTHONPATH entry whose 'markit', 'runtime' and 'efficientnet_lite_pytorch' fail on import, as an installed
    copy of another version could (the archive must use its own copies), and whose 'transformers' and
    'sentence_transformers' fail too (text archives must serve without them)."""
    root = tmp_path_factory.mktemp("shadow")
    # ours, the example model's source package, and the build-time-only text stack
    for package in ("markit", "runtime", "efficientnet_lite_pytorch", "transformers", "sentence_transformers"):
        (root / package).mkdir()
        (root / package / "__init__.py").write_text(f"raise ImportError({SHADOW_MESSAGE!r})\n")
    (root / "serve_entry.py").write_text(f"raise ImportError({SHADOW_MESSAGE!r})\n")
    return root


@pytest.fixture(scope="session")
def server(store: Path, shadow_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServeProcess]:
    process = TorchServeProcess(REPO / "config" / "config.properties", store, tmp_path_factory.mktemp("torchserve"),
                                env={"PYTHONPATH": str(shadow_path)})
    process.start()
    try:
        process.wait_ready(["efficientnet_lite0", "tiny", "digits", "digits_eager", "minilm_embeddings", "minilm_topics",
                              "weather_seattle", "weather_sf", "weather_flagged", "tiny_fallback", "tiny_onnx_fallback",
                              "g2p_en", "faces", "digit_boxes", "digit_segments", "read_number",
                              "phonemes", "forecast"])
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def kserve_runtime(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServeRuntimeProcess]:
    """The same store on the KServe runtime (no Java), token authorization on, on its own free loopback ports."""
    runtime = KServeRuntimeProcess(store, tmp_path_factory.mktemp("kserve-runtime"))
    runtime.start()
    try:
        runtime.wait_ready()
        yield runtime
    finally:
        runtime.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name in ("server", "tampered_server"):
            process = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if isinstance(process, TorchServeProcess):
                report.sections.append((f"TorchServe logs ({name})", process.log_tail()))
        runtime = item.funcargs.get("kserve_runtime") if hasattr(item, "funcargs") else None
        if isinstance(runtime, KServeRuntimeProcess):
            report.sections.append(("KServe runtime output", runtime.log_tail()))
