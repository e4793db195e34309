"""The spec is strict: every mistake fails with a message naming the dotted key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from markit.builder.errors import SpecError
from markit.builder.spec import load_spec, parse_spec

from helpers import write_tiny_spec


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    path = write_tiny_spec(tmp_path_factory.mktemp("spec"))
    return yaml.safe_load(path.read_text()), path.parent


def test_valid_spec_parses_with_defaults(base):
    data, directory = base
    spec = parse_spec(data, directory)
    assert spec.name == "tiny" and spec.version == "1.0"
    assert spec.model.format == "eager" and spec.model.weights == directory / "weights.pth"
    assert spec.settings.preprocess.center_crop == (16, 16) and spec.settings.preprocess.mean == (0.5, 0.5, 0.5)
    assert spec.settings.preprocess.draft is True
    assert spec.budgets == {"request_bytes": 10 * 1024 * 1024, "instances": 64, "pixels": 40_000_000}
    assert spec.serving.batch_size == 4 and spec.serving.torch_threads == 1
    assert spec.references["model.weights"] == "weights.pth"


def test_a_spec_sets_its_tasks_budgets_and_keeps_the_defaults_of_the_others(base):
    data, directory = base
    spec = parse_spec({**data, "budgets": {"pixels": 12_000_000}}, directory)
    assert spec.budgets == {"request_bytes": 10 * 1024 * 1024, "instances": 64, "pixels": 12_000_000}


def test_exact_resize_needs_no_crop(base):
    data, directory = base
    changed = mutate(mutate(data, "preprocess.center_crop", DELETE), "preprocess.resize", [20, 10])
    assert parse_spec(changed, directory).settings.preprocess.resize == (20, 10)


def test_draft_decoding_can_be_switched_off(base):
    data, directory = base
    assert parse_spec(mutate(data, "preprocess.draft", False), directory).settings.preprocess.draft is False
    assert parse_spec(mutate(data, "preprocess.draft", True), directory).settings.preprocess.draft is True


def test_version_may_be_written_as_a_number(base):
    data, directory = base
    assert parse_spec({**data, "version": 2.1}, directory).version == "2.1"


def test_package_references_resolve_without_import(base):
    data, directory = base
    changed = copy.deepcopy(data)
    changed["golden"][0]["input"] = "pkg:skimage/data/chelsea.png"
    spec = parse_spec(changed, directory)
    assert spec.golden[0].input.name == "chelsea.png" and spec.golden[0].input.is_file()


def mutate(data: dict, dotted: str, value) -> dict:
    changed = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    node = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("nmae", "x", "nmae: unknown key; did you mean 'name'?"),
        ("preprocess.mena", [0.5], "preprocess.mena: unknown key; did you mean 'mean'?"),
        ("preprocess.mean", [0.5], "preprocess.mean: expected 3 numbers for RGB, got 1"),
        ("preprocess.mean", 0.5, "preprocess.mean: expected 3 numbers for RGB, got 1"),
        ("preprocess.std", [0.2, 0.0, 0.2], "preprocess.std: every value must be > 0"),
        ("preprocess.mean", ["a", 1, 2], "preprocess.mean: expected a list of 3 numbers for RGB"),
        ("preprocess.color_mode", "BGR", "preprocess.color_mode: 'BGR' is not one of RGB, L"),
        ("preprocess.interpolation", "cubic", "preprocess.interpolation: 'cubic' is not one of"),
        ("preprocess.resize", -3, "preprocess.resize: expected a positive integer (shorter side) or [height, width]"),
        ("preprocess.center_crop", 32, "preprocess.center_crop: 32 is larger than preprocess.resize 16"),
        ("budgets.pixels", 0, "budgets.pixels: must be from 1 to 1073741824, got 0"),
        ("budgets.rows", 9, "budgets.rows: unknown key; known keys: instances, pixels, request_bytes"),
        ("preprocess.max_pixels", 9, "preprocess.max_pixels: unknown key"),
        ("preprocess.draft", "yes", "preprocess.draft: expected bool, got str 'yes'"),
        ("preprocess.draft", 1, "preprocess.draft: expected bool, got int 1"),
        ("preprocess.draf", False, "preprocess.draf: unknown key; did you mean 'draft'?"),
        ("postprocess.top_k", 0, "postprocess.top_k: must be >= 1, got 0"),
        ("postprocess.top_k", "3", "postprocess.top_k: expected a whole number, got '3'"),
        ("postprocess.threshold", 1.5, "postprocess.threshold: must be a probability from 0 to 1"),
        ("serving.batch_size", True, "serving.batch_size: expected a whole number, got True"),
        ("serving.workerz", 2, "serving.workerz: unknown key; did you mean 'workers'?"),
        ("name", "9lives", "name: '9lives' is not valid"),
        ("task", "forecasting", "task: 'forecasting' is not one of image_classification"),
        ("model.weights", "missing.pth", "model.weights: 'missing.pth' does not exist"),
        ("model.weights", DELETE, "model.weights: required key is missing"),
        ("model.torchscript", "tiny_model.py", "model.class: not used with model.torchscript"),
        ("model.class", "Tiny Net", "model.class: 'Tiny Net' is not valid"),
        ("model.factory", "from-name", "model.factory: 'from-name' is not a method name"),
        ("labels", "pkg:not_a_real_package_xyz/labels.txt", "labels: package 'not_a_real_package_xyz' is not installed"),
        ("golden", [], "golden: expected a list of one or more examples"),
        ("golden.0.tolerance", -1, "golden[0].tolerance: must be >= 0"),
        ("golden.0.expect", 1, "golden[0].expect: unknown key; did you mean 'expected'?"),
        ("metadata", {"trained": float("nan")}, "metadata: must be plain JSON data"),
        ("preprocess", DELETE, "preprocess: required key is missing"),
        ("preprocess.center_crop", DELETE, "preprocess.center_crop: required unless preprocess.resize is [height, width]"),
    ],
)
def test_bad_specs_name_the_key(base, dotted, value, message):
    data, directory = base
    with pytest.raises(SpecError) as caught:
        parse_spec(mutate(data, dotted, value), directory)
    assert message in str(caught.value)


def test_yaml_dates_in_metadata_must_be_quoted(base, tmp_path):
    data, directory = base
    text = yaml.safe_dump(data).replace("metadata:", "metadata:\n  trained_on: 2024-05-01")
    path = directory / "dated.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="metadata: must be plain JSON data"):
        load_spec(path)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(SpecError, match="cannot be read"):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="the spec: expected a mapping"):
        load_spec(tmp_path / "list.yaml")


def test_overrides_are_applied_then_validated(base):
    _, directory = base
    path = directory / "spec.yaml"
    spec = load_spec(path, ["serving.workers=2", "postprocess.threshold=0.25", "metadata.owner=team-a"])
    assert spec.serving.workers == 2 and spec.settings.postprocess.threshold == 0.25 and spec.metadata["owner"] == "team-a"
    with pytest.raises(SpecError, match=r"serving\.wokers: unknown key; did you mean 'workers'"):
        load_spec(path, ["serving.wokers=2"])
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        load_spec(path, ["serving.workers"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"zero_shot": {"labels": {"a": "about a"}}}, "zero_shot: not used by task image_classification (only by text_classification)"),
        ({"tokenizer": "labels.txt"}, "tokenizer: not used by task image_classification (only by text_embedding, text_classification)"),
        ({"task": "text_classification", "preprocess": None, "labels": None}, "tokenizer: required key is missing"),
        ({"task": "text_embedding", "preprocess": None, "labels": None, "postprocess": None, "tokenizer": "labels.txt"},
         "model.transformers: a text model is a Hugging Face model directory"),
    ],
)
def test_text_spec_errors(base, change, message):
    data, directory = base
    changed = {k: v for k, v in {**copy.deepcopy(data), **change}.items() if v is not None}
    with pytest.raises(SpecError) as caught:
        parse_spec(changed, directory)
    assert message in str(caught.value)


def test_a_text_model_is_a_hugging_face_directory(base, tmp_path):
    data, directory = base
    text = {k: v for k, v in {**copy.deepcopy(data), "task": "text_embedding", "tokenizer": "labels.txt"}.items()
            if k not in ("preprocess", "labels", "postprocess")}
    (tmp_path / "encoder").mkdir()
    text["model"] = {"transformers": str(tmp_path / "encoder"), "format": "onnx"}
    with pytest.raises(SpecError, match=r"model\.transformers: .*encoder is not a Hugging Face model directory \(no config\.json\)"):
        parse_spec(text, directory)
    (tmp_path / "encoder" / "config.json").write_text("{}")
    spec = parse_spec(text, directory)
    assert spec.model.transformers == tmp_path / "encoder" and spec.model.format == "onnx"
    assert spec.settings.text.tokenizer == directory / "labels.txt" and spec.budgets["texts"] == 64


REGRESSION = {
    "task": "regression", "preprocess": None, "labels": None, "postprocess": None,
    "features": [{"name": "history", "shape": [24], "unit": "degF"}],
    "outputs": [{"name": "next_hour", "unit": "degF"}],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"guards": [{"feature": "humidity", "min": 0, "policy": "reject"}]}, "guards[0].feature: 'humidity' is not a declared feature"),
        ({"guards": [{"feature": "history", "policy": "reject"}]}, "guards[0]: give min, max or both"),
        ({"guards": [{"feature": "history", "min": 5, "max": 1, "policy": "flag"}]}, "guards[0]: min 5.0 is greater than max 1.0"),
        ({"guards": [{"feature": "history", "min": 5, "policy": "warn"}]}, "guards[0].policy: 'warn' is not one of reject, flag"),
        ({"features": [{"name": "history", "shape": [0], "unit": "degF"}]}, "features[0].shape: expected a list of positive integers"),
        ({"features": [{"name": "inputs", "unit": "degF"}]}, "features[0].name: 'inputs' is reserved (a JSON body"),
        ({"outputs": [{"name": "a", "unit": "x"}, {"name": "a", "unit": "y"}]}, "outputs[1].name: 'a' appears twice"),
        ({"outputs": [{"name": "a"}]}, "outputs[0].unit: required key is missing"),
    ],
)
def test_regression_spec_errors(base, change, message):
    data, directory = base
    changed = {k: v for k, v in {**copy.deepcopy(data), **REGRESSION, **change}.items() if v is not None}
    with pytest.raises(SpecError) as caught:
        parse_spec(changed, directory)
    assert message in str(caught.value)


def test_regression_spec_parses(base):
    data, directory = base
    changed = {k: v for k, v in {**copy.deepcopy(data), **REGRESSION,
                                 "guards": [{"feature": "history", "min": 1, "policy": "flag"}]}.items() if v is not None}
    spec = parse_spec(changed, directory)
    assert tuple(guard.model_dump() for guard in spec.settings.guards) == ({"feature": "history", "policy": "flag", "min": 1.0},)


def test_a_zero_batch_delay_is_refused_because_torchserve_reads_it_as_its_default(tmp_path):
    with pytest.raises(SpecError, match=r"serving.max_batch_delay: TorchServe reads 0 .* use 1"):
        load_spec(write_tiny_spec(tmp_path), ["serving.max_batch_delay=0"])
    assert load_spec(write_tiny_spec(tmp_path / "one"), ["serving.max_batch_delay=1"]).serving.max_batch_delay == 1
