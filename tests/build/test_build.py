"""The builder: manifest, identity, hashes, golden verification, and what a failed build leaves."""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch

from markit.builder import BuildError, VerificationError, build_archive
from markit.builder.manifest import validate_manifest
from markit.core.errors import ArchiveError
from markit.core.manifest import load_manifest, verify_files
from markit.core.unpacked import UnpackedArchive
from markit.offline import LocalArchive, LocalRequest

from helpers import png_bytes, reference_answer, write_tiny_spec


def read_manifest(mar: Path) -> dict:
    with zipfile.ZipFile(mar) as archive:
        return json.loads(archive.read("manifest.json"))


def quiet(_: str) -> None:
    pass


def test_archive_layout_and_manifest(tiny_mar):
    manifest = read_manifest(tiny_mar)
    validate_manifest(manifest)
    with zipfile.ZipFile(tiny_mar) as archive:
        names = set(archive.namelist())
        mar_manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    assert set(manifest["files"]) == names - {"manifest.json", "MAR-INF/MANIFEST.json"}
    assert {"model/weights.safetensors", "model/tiny_model.py", "index_to_name.json", "model-config.yaml",
            "runtime/__init__.py", "runtime/core/handler.py", "runtime/tasks/image_classification/handler.py",
            "runtime/engines/torchserve/adapter.py", "golden/0_red.png",
            "runtime/core/manifest_types.py", "runtime/core/section.py", "runtime/tasks/image_classification/manifest.py"} <= names
    assert not any(name.startswith(("runtime/builder/", "runtime/engines/kserve/")) or name.endswith("/build.py") for name in names)
    assert mar_manifest["model"]["handler"].startswith("archive_entry_")
    assert not any(name.endswith((".pth", ".pyc")) for name in names)
    spec = manifest["spec"]
    assert spec["model"] == {"format": "eager", "source": "model/tiny_model.py", "class": "TinyNet",
                             "kwargs": {}, "weights": "model/weights.safetensors"}  # 2.x leaves a null (no factory) out
    assert spec["labels"] == {"file": "index_to_name.json", "count": 3}
    assert manifest["schema_version"] == "2.0"
    assert manifest["provenance"]["torch_version"] == torch.__version__
    assert manifest["provenance"]["inputs"]["model.weights"] == "weights.pth"


def test_rebuilding_the_same_inputs_gives_the_same_identity(tmp_path, tiny_mar):
    again = build_archive(write_tiny_spec(tmp_path / "spec"), tmp_path / "store", progress=quiet)
    first, second = read_manifest(tiny_mar), read_manifest(again.path)
    assert first["identity"] == second["identity"]
    assert first["provenance"]["built_at"] <= second["provenance"]["built_at"]


def test_identity_changes_with_the_weights(tmp_path, tiny_mar):
    spec = write_tiny_spec(tmp_path / "spec", expected={"model": {"name": "tiny"}})
    torch.manual_seed(1)
    state = {k: torch.randn_like(v) for k, v in torch.load(spec.parent / "weights.pth").items()}
    torch.save(state, spec.parent / "weights.pth")
    changed = build_archive(spec, tmp_path / "store", progress=quiet)
    assert read_manifest(changed.path)["identity"] != read_manifest(tiny_mar)["identity"]


def test_golden_mismatch_fails_with_a_diff_and_leaves_no_archive(tmp_path):
    expected = reference_answer()
    expected["predictions"][0]["label"] = "purple"
    spec = write_tiny_spec(tmp_path / "spec", expected=expected)
    store = tmp_path / "store"
    with pytest.raises(VerificationError) as caught:
        build_archive(spec, store, progress=quiet)
    assert "golden/0_red.png: predictions[0].label: expected 'purple', got" in str(caught.value)
    assert list(store.iterdir()) == []


def test_weights_that_do_not_fit_the_class_fail_the_build(tmp_path):
    spec = write_tiny_spec(tmp_path / "spec")
    torch.save({"conv.weight": torch.zeros(1)}, spec.parent / "weights.pth")
    with pytest.raises(BuildError, match="do not fit 'TinyNet'"):
        build_archive(spec, tmp_path / "store", progress=quiet)
    assert list((tmp_path / "store").iterdir()) == []


def test_pickled_objects_are_refused_as_weights(tmp_path):
    spec = write_tiny_spec(tmp_path / "spec")
    torch.save({"model": torch.nn.Linear(1, 1)}, spec.parent / "weights.pth")
    with pytest.raises(BuildError, match=r"weights_only=True"):
        build_archive(spec, tmp_path / "store", progress=quiet)


def test_top_k_above_label_count_is_a_spec_error(tmp_path):
    spec = write_tiny_spec(tmp_path / "spec", postprocess={"top_k": 4})
    with pytest.raises(BuildError, match=r"postprocess\.top_k: 4 is more than the 3 labels"):
        build_archive(spec, tmp_path / "store", progress=quiet)


def test_worker_side_verification_names_the_tampered_file(tmp_path, tiny_mar):
    with zipfile.ZipFile(tiny_mar) as archive:
        archive.extractall(tmp_path)
    manifest = load_manifest(tmp_path)
    verify_files(tmp_path, manifest)
    (tmp_path / "index_to_name.json").write_text('{"0": "cat", "1": "green", "2": "blue"}')
    with pytest.raises(ArchiveError, match=r"archive file 'index_to_name.json' was modified after build"):
        verify_files(tmp_path, manifest)
    (tmp_path / "index_to_name.json").unlink()
    with pytest.raises(ArchiveError, match=r"'index_to_name\.json' is missing"):
        verify_files(tmp_path, manifest)


@pytest.mark.parametrize("version", ["3.0", "1.5"])
def test_another_manifest_major_version_is_refused_naming_it_and_the_rebuild_command(tmp_path, tiny_mar, version):
    """A newer major is refused; so is 1.x by this run-time (a 1.x archive is served by the run-time code it carries)."""
    with zipfile.ZipFile(tiny_mar) as archive:
        archive.extractall(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "schema_version": version}))
    with pytest.raises(ArchiveError, match=rf"schema_version '{re.escape(version)}' is not read here \(this code reads 2\.x\).*"
                                           r"rebuild it with \./scripts/build_mar\.sh SPEC\.yaml"):
        load_manifest(tmp_path)
    with pytest.raises(ArchiveError, match=rf"schema_version '{re.escape(version)}' is not read here"):
        UnpackedArchive.open(tmp_path)


def test_progress_is_reported_for_each_step(tmp_path):
    lines: list[str] = []
    build_archive(write_tiny_spec(tmp_path / "spec"), tmp_path / "store", progress=lines.append)
    assert lines[0].startswith("spec ") and "is valid: tiny 1.0, task image_classification, model format eager" in lines[0]
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert sum("done in" in line for line in lines) == 4


def test_local_archive_serves_like_a_worker(tiny_mar):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with LocalArchive(tiny_mar) as archive:
            assert torch.get_num_threads() == 1  # the archive's serving.torch_threads, as in a worker
            answer = archive.predict([LocalRequest.raw((Path(__file__).parents[1] / "data" / "tiny" / "labels.txt").read_bytes(),
                                                       "image/png")])
            assert answer[0].status == 415
        assert torch.get_num_threads() == 2  # and only while the with block lasts
    finally:
        torch.set_num_threads(before)


def test_torchscript_archive_answers_like_the_eager_model(tmp_path, tiny_mar):
    from helpers import tiny_model

    spec = write_tiny_spec(tmp_path / "spec")
    torch.jit.script(tiny_model()).save(str(spec.parent / "tiny.pt"))
    text = spec.read_text()
    eager_model = "model:\n  source: tiny_model.py\n  class: TinyNet\n  weights: weights.pth\n"
    assert eager_model in text
    spec.write_text(text.replace(eager_model, "model:\n  torchscript: tiny.pt\n"))
    scripted = build_archive(spec, tmp_path / "store", progress=quiet)  # golden = the eager reference answer
    manifest = read_manifest(scripted.path)
    assert manifest["spec"]["model"] == {"format": "torchscript", "file": "model/model.pt"}
    assert manifest["identity"] != read_manifest(tiny_mar)["identity"]


@pytest.mark.parametrize("fmt", ["torchscript", "export"])
def test_task_handler_model_converted_at_build_answers_like_eager(tmp_path, tiny_mar, fmt):
    converted = build_archive(write_tiny_spec(tmp_path / "spec"), tmp_path / "store", progress=quiet, overrides=[f"model.format={fmt}"])
    model = read_manifest(converted.path)["spec"]["model"]
    assert model["format"] == fmt and model["conversion"]["max_abs_diff"] <= 1e-4
    requests = [LocalRequest.raw(png_bytes(color), "image/png") for color in ((220, 20, 30), (0, 128, 255), (9, 9, 9))]
    with LocalArchive(tiny_mar) as eager, LocalArchive(converted.path) as program:
        expected, actual = eager.predict(requests), program.predict(requests)
    for left, right in zip(expected, actual, strict=True):
        assert left.status == right.status == 200
        assert [p["label"] for p in left.body["predictions"]] == [p["label"] for p in right.body["predictions"]]
        assert [p["probability"] for p in right.body["predictions"]] == pytest.approx(
            [p["probability"] for p in left.body["predictions"]], abs=1e-5)



def test_torch_model_archiver_stages_in_a_directory_of_the_builds_own(tmp_path, monkeypatch):
    """torch-model-archiver stages in $TMPDIR/MODEL_NAME, so two builds of one model name at once (two checkouts,
    a CI matrix) would mix their files; each build gives it a directory of its own, and puts the default back."""
    import markit.builder.pipeline as pipeline

    seen = []
    real = pipeline.generate_model_archive
    monkeypatch.setattr(pipeline, "generate_model_archive", lambda config: seen.append(tempfile.gettempdir()) or real(config))
    system = tempfile.gettempdir()
    build_archive(write_tiny_spec(tmp_path / "spec"), tmp_path / "out", progress=lambda _: None)
    assert seen and all(Path(where).is_relative_to(tmp_path / "out") for where in seen)
    assert tempfile.gettempdir() == system
