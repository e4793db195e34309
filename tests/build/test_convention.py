"""The convention task: the model's own preprocess/postprocess, artifacts from the archive, and the
three formats answering alike; conversions that change answers are refused."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
import torch
import yaml

from markit.builder import BuildError, SpecError, build_archive
from markit.offline import LocalArchive, LocalRequest

from helpers import REPO, json_request, quiet, write_convention_spec


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """The same Scorer shipped eager, as TorchScript, as torch.export and as ONNX."""
    built = {}
    for fmt in ("eager", "torchscript", "export", "onnx"):
        root = tmp_path_factory.mktemp(fmt)
        spec = write_convention_spec(root / "spec", format=fmt)
        built[fmt] = build_archive(spec, root / "store", progress=quiet).path
    return built


def answers(mar, requests):
    with LocalArchive(mar) as archive:
        return [(r.status, r.body.get("result", r.body.get("type"))) for r in archive.predict(requests)]


def test_model_methods_and_artifacts_are_used(archives):
    [(status, result)] = answers(archives["eager"], [json_request([1, 2, 3, 4])])
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)  # the weights write_convention_spec saved
    with torch.no_grad():
        expected = float(model(torch.tensor([1.0, 2, 3, 4]) * 0.5)[0])  # scale 0.5 from the scale.json artifact
    assert status == 200
    assert result == {"score": pytest.approx(expected, abs=1e-6), "label": "tiny-score"}


def test_the_formats_answer_alike(archives):
    requests = [json_request([1, 2, 3, 4]), json_request([-1, 0.5, 2, 8]), json_request([0, 0, 0, 1])]
    eager = answers(archives["eager"], requests)
    assert answers(archives["torchscript"], requests) == eager
    assert answers(archives["export"], requests) == eager
    assert answers(archives["export"], requests[:1]) == eager[:1]  # any batch size
    onnx = answers(archives["onnx"], requests)  # ONNX Runtime's kernels round differently in the last bits
    assert [(status, result["label"], pytest.approx(result["score"], abs=1e-5)) for status, result in onnx] == \
        [(status, result["label"], result["score"]) for status, result in eager]


def test_manifest_records_format_and_conversion(archives):
    for fmt, file in (("torchscript", "model/model.pt"), ("export", "model/model.pt2")):
        with zipfile.ZipFile(archives[fmt]) as archive:
            model = json.loads(archive.read("manifest.json"))["spec"]["model"]
            names = set(archive.namelist())
        assert model["format"] == fmt and model["file"] == file and file in names
        assert model["conversion"]["from"] == "eager" and model["conversion"]["max_abs_diff"] <= model["conversion"]["tolerance"]
        assert "weights" not in model and "model/weights.safetensors" not in names
        assert model["artifacts"] == {"label": {"value": "tiny-score"}, "scale": {"file": "artifacts/scale.json"}}


def test_value_errors_are_the_clients_422_other_errors_a_500_for_that_item_only(archives, caplog):
    requests = [json_request([1, 2, 3, 4]), json_request([1, 2]), LocalRequest.raw(b"{not json", "application/octet-stream"),
                json_request("crash"), json_request([0, 0, 0, 1])]
    with LocalArchive(archives["export"]) as archive:
        responses = archive.predict(requests)
    assert [r.status for r in responses] == [200, 422, 422, 500, 200]
    assert "Scorer.preprocess refused the input: expected a list of 4 numbers, got [1, 2]" in responses[1].body["message"]
    assert responses[3].body["message"] == "internal error in the handler (RuntimeError); see the model log"
    assert "a bug in preprocess" in caplog.text  # the traceback is logged


def test_class_without_postprocess_fails_the_build(tmp_path):
    spec = write_convention_spec(tmp_path / "spec", cls="NoPostprocess")
    data = yaml.safe_load(spec.read_text())
    del data["model"]["artifacts"]
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"model\.class: NoPostprocess has no postprocess method"):
        build_archive(spec, tmp_path / "store", progress=quiet)
    assert not any((tmp_path / "store").iterdir())


@pytest.mark.parametrize("fmt", ["torchscript", "export", "onnx"])
def test_a_conversion_that_changes_answers_is_refused(tmp_path, fmt):
    """BatchSensitive answers differently for a batch of one; a converted program must not ship."""
    spec = write_convention_spec(tmp_path / "spec", cls="BatchSensitive", format=fmt)
    with pytest.raises(BuildError) as caught:
        build_archive(spec, tmp_path / "store", progress=quiet)
    message = str(caught.value)
    assert f"the {fmt} conversion differs from the eager model" in message or f"converting to {fmt} failed" in message
    assert not any((tmp_path / "store").iterdir())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preprocess": {"color_mode": "RGB"}}, "preprocess: not used by task convention"),
        ({"model": {"torchscript": "weights.pth"}}, "model.source: the convention task calls the class's preprocess/postprocess"),
        ({"model": {"source": "tiny_convention.py", "class": "Scorer", "weights": "weights.pth", "format": "tensorrt"}},
         "model.format: 'tensorrt' is not one of eager, torchscript, export, aoti, onnx"),
        ({"model": {"source": "tiny_convention.py", "class": "Scorer", "weights": "weights.pth",
                    "artifacts": {"scale": {"file": "scale.json", "value": 1}}}}, "model.artifacts.scale: expected exactly one of"),
        ({"model": {"source": "tiny_convention.py", "class": "Scorer", "weights": "weights.pth",
                    "artifacts": {"bad-name": {"value": 1}}}}, "model.artifacts.bad-name: an artifact name must be"),
        ({"model": {"source": "tiny_convention.py", "class": "Scorer", "weights": "weights.pth",
                    "kwargs": {"artifacts": {}}}}, "model.kwargs: 'artifacts' is passed by the handler"),
    ],
)
def test_convention_spec_errors(tmp_path, change, message):
    spec = write_convention_spec(tmp_path / "spec")
    data = {**yaml.safe_load(spec.read_text()), **change}
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as caught:
        build_archive(spec, tmp_path / "store", progress=quiet)
    assert message in str(caught.value)


def identity(mar) -> str:
    with zipfile.ZipFile(mar) as archive:
        return json.loads(archive.read("manifest.json"))["identity"]


def test_rebuilding_an_exported_model_gives_the_same_identity(tmp_path, archives):
    """Converted programs must not embed the build's temporary paths (they once did, via stack traces)."""
    again = build_archive(write_convention_spec(tmp_path / "spec", format="export"), tmp_path / "store", progress=quiet)
    assert identity(again.path) == identity(archives["export"])


def test_rebuilding_a_torchscript_model_gives_the_same_identity(tmp_path):
    """Each build in its own process, as build_mar.sh runs (TorchScript renames classes it compiled before)."""
    spec = write_convention_spec(tmp_path / "spec", format="torchscript")
    for run in ("one", "two"):
        subprocess.run([sys.executable, "-m", "markit.builder", str(spec), "--output", str(tmp_path / run)], check=True,
                       capture_output=True, cwd=REPO)
    assert identity(tmp_path / "one" / "scorer.mar") == identity(tmp_path / "two" / "scorer.mar")
