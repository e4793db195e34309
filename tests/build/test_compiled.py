"""The compiled (AOTInductor) format: what it requires of a worker, checked before loading; the eager
model shipped beside it serves where the program cannot run; same answers and identity as rebuilt."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from markit.builder import build_archive
from markit.core.compiled import target, unmet_requirement
from markit.core.errors import ArchiveError
from markit.core.loading import load_model
from markit.offline import LocalArchive, LocalRequest

from helpers import build_formats, kill, mar_manifest, png_bytes, quiet, started, unpacked, write_tiny_spec

HERE = {"torch": "2.13.0", "machine": "x86_64", "cpu_capability": "AVX512"}



@pytest.mark.parametrize(("requires", "problem"), [
    ({"torch": "2.13.0", "machine": "x86_64", "cpu_capability": "AVX2"}, None),      # a better CPU runs it
    ({"torch": "2.13.0", "machine": "x86_64", "cpu_capability": "AVX512"}, None),
    ({"torch": "2.12.1", "machine": "x86_64", "cpu_capability": "AVX2"}, "needs torch 2.12.1, this worker has 2.13.0"),
    ({"torch": "2.13.0", "machine": "aarch64", "cpu_capability": "DEFAULT"}, "needs machine aarch64, this worker has x86_64"),
    ({"torch": "2.13.0", "machine": "x86_64", "cpu_capability": "AMX"}, "needs a AMX CPU, this worker's CPU is AVX512"),
    ({}, "needs torch None"),
])
def test_requirements_are_compared_with_the_worker(requires, problem):
    found = unmet_requirement(requires, HERE)
    assert found is None if problem is None else problem in found


def test_an_avx512_program_does_not_load_on_an_avx2_cpu():
    requires = {**HERE, "cpu_capability": "AVX512"}
    assert "needs a AVX512 CPU, this worker's CPU is AVX2" in unmet_requirement(requires, {**HERE, "cpu_capability": "AVX2"})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """tiny.mar compiled with AOTInductor, and the same spec eager."""
    root = tmp_path_factory.mktemp("aoti")
    spec = write_tiny_spec(root / "spec")
    return build_formats(spec, root, ("aoti", "eager"))




def test_the_manifest_records_what_the_program_needs_and_its_fallback(compiled):
    model = mar_manifest(compiled["aoti"])["spec"]["model"]
    assert model["format"] == "aoti" and model["file"] == "model/model.aoti.pt2"
    assert model["requires"]["torch"] == target()["torch"] and model["requires"]["machine"] == target()["machine"]
    assert model["fallback"]["format"] == "eager" and model["fallback"]["weights"] == "model/weights.safetensors"
    assert model["conversion"]["max_abs_diff"] <= model["conversion"]["tolerance"]


def test_the_compiled_archive_answers_like_the_eager_one(compiled):
    requests = [LocalRequest.raw(png_bytes(color), "image/png") for color in ((220, 20, 30), (10, 200, 40), (30, 30, 250))]
    answers = {}
    for fmt, mar in compiled.items():
        with LocalArchive(mar) as archive:
            answers[fmt] = [(r.status, [(p["label"], round(p["probability"], 5)) for p in r.body["predictions"]])
                            for r in archive.predict(requests)]
    assert answers["aoti"] == answers["eager"]
    assert all(status == 200 for status, _ in answers["aoti"])


def test_the_compiled_program_serves_where_it_can(compiled, tmp_path):
    root = unpacked(compiled["aoti"], tmp_path)
    loaded = load_model(root, mar_manifest(compiled["aoti"])["spec"]["model"])
    assert loaded.format == "aoti" and loaded.fallback_reason is None


LOAD_AND_WAIT = """
import json, sys, time
from pathlib import Path
from markit.core.loading import load_model
loaded = load_model(Path(sys.argv[1]), json.loads(sys.argv[2]))
print(loaded.format, flush=True)
time.sleep(60)
"""


def test_a_worker_killed_after_loading_the_program_leaves_nothing_in_its_tmpdir(compiled, tmp_path):
    """torch unpacks a package to a temp dir only its destructor removes; a killed worker never runs it."""
    root, tmp = unpacked(compiled["aoti"], tmp_path / "model"), tmp_path / "tmp"
    tmp.mkdir()
    model = json.dumps(mar_manifest(compiled["aoti"])["spec"]["model"])
    worker, loaded = started(LOAD_AND_WAIT, str(root), model, env={"TMPDIR": str(tmp)})
    try:
        assert loaded == "aoti"
    finally:
        kill(worker)
    assert [path.name for path in tmp.iterdir()] == []


def test_another_torch_gets_the_eager_fallback_and_says_why(compiled, tmp_path, caplog):
    model = mar_manifest(compiled["aoti"])["spec"]["model"]
    model["requires"]["torch"] = "2.99.0"
    with caplog.at_level(logging.WARNING):
        loaded = load_model(unpacked(compiled["aoti"], tmp_path), model)
    assert loaded.format == "eager"
    assert "needs torch 2.99.0" in loaded.fallback_reason
    assert "serving the eager model shipped beside it" in caplog.text


def test_a_package_that_fails_to_load_gets_the_fallback(compiled, tmp_path):
    root = unpacked(compiled["aoti"], tmp_path)
    (root / "model" / "model.aoti.pt2").write_bytes(b"not a package")
    loaded = load_model(root, mar_manifest(compiled["aoti"])["spec"]["model"])
    assert loaded.format == "eager" and "failed to load" in loaded.fallback_reason


def test_without_a_fallback_the_archive_is_refused_naming_the_reason(compiled, tmp_path):
    model = mar_manifest(compiled["aoti"])["spec"]["model"]
    model["requires"]["cpu_capability"] = "AMX"
    del model["fallback"]
    with pytest.raises(ArchiveError, match=r"needs a AMX CPU.*ships no fallback model: rebuild it"):
        load_model(unpacked(compiled["aoti"], tmp_path), model)


def test_rebuilding_gives_the_same_identity(compiled, tmp_path):
    spec_dir = tmp_path / "spec"
    shutil.copytree(compiled["aoti"].parents[1] / "spec", spec_dir)
    again = build_archive(spec_dir / "spec.yaml", tmp_path / "out", progress=quiet, overrides=["model.format=aoti"]).path
    assert mar_manifest(again)["identity"] == mar_manifest(compiled["aoti"])["identity"]
    assert mar_manifest(again)["identity"] != mar_manifest(compiled["eager"])["identity"]
