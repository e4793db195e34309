"""One typed manifest contract (docs/design/manifest-types.md): the checked-in JSON Schema is the one generated from
the types, a standard JSON Schema reader and the types agree on what a manifest is, and a manifest the types refuse
is refused naming each place at fault in the document's own terms."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from markit.core.errors import ArchiveError
from markit.core.manifest import SCHEMA_VERSION
from markit.core.manifest_types import parse_manifest
from markit.core.unpacked import spec_type_of
from markit.schemas.generate import SCHEMA_FILE, main, schema_text

from helpers import complete_spec

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
FALLBACK = {"format": "eager", "source": "model/model.py", "class": "Net", "kwargs": {}, "weights": "model/weights.safetensors"}
COMPILED = {"format": "aoti", "file": "model/model.aoti.pt2",
            "requires": {"torch": "2.13.0", "machine": "x86_64", "cpu_capability": "AVX2"},
            "conversion": {"from": "eager", "max_abs_diff": 0.0, "tolerance": 0.0001, "examples": 2}, "fallback": FALLBACK}
REGRESSION = {"task": "regression", "features": [{"name": "x", "unit": "m", "shape": [2]}], "outputs": [{"name": "y", "unit": "m"}],
              "guards": [{"feature": "x", "policy": "reject", "min": 0, "max": 1.5}], "model": COMPILED}


def manifest(**spec) -> dict:
    return {"schema_version": SCHEMA_VERSION, "identity": "sha256:" + "0" * 64, "spec": complete_spec({**REGRESSION, **spec}),
            "files": {"model/model.py": "0" * 64}, "provenance": {"builder_version": "0", "built_at": "2026-01-01T00:00:00Z",
                                                                    "python_version": "3.11", "torch_version": "2.13.0"}}


def test_the_checked_in_schema_is_the_one_the_types_generate():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), "run: python -m markit.schemas"
    assert main(["--check"]) == 0


def test_a_valid_manifest_reads_the_same_to_the_types_and_to_the_schema():
    document = manifest()
    assert not list(VALIDATOR.iter_errors(document))
    typed = parse_manifest(json.dumps(document), spec_type_of(document))
    assert typed.spec.model_dump(mode="json") == document["spec"]  # written back as it was read
    assert typed.spec.guards[0].describe() == "[0, 1.5]"  # a bound keeps how it was written


def edited(path: str, value: object = ...) -> dict:
    """The valid manifest with the key at dotted ``path`` set to ``value`` (removed without one)."""
    document = copy.deepcopy(manifest())
    *parents, key = path.split(".")
    here = document
    for part in parents:
        here = here[int(part)] if part.isdigit() else here[part]
    if value is ...:
        del here[key]
    else:
        here[key] = value
    return document


@pytest.mark.parametrize(("path", "value", "message"), [
    ("spec.serving.workers", "2", "spec.serving.workers: Input should be a valid integer"),
    ("spec.budgets.rows", True, "spec.budgets.rows: Input should be a valid integer"),
    ("spec.features.0.unit", ..., "spec.features[0].unit: Field required"),
    ("spec.guards.0.policy", "warn", "spec.guards[0].policy: Input should be 'reject' or 'flag'"),
    ("spec.model.fallback.weights", 3, "spec.model.fallback.weights: Input should be a valid string"),  # no union tags in the place
    ("spec.model.requires.colour", "red", "spec.model.requires.colour: Extra inputs are not permitted"),
    ("spec.golden", [], "spec.golden: Tuple should have at least 1 item after validation, not 0"),
    ("schema_version", "1.5", r"schema_version: String should match pattern '^2\.[0-9]+$'"),
])
def test_a_manifest_both_refuse_is_refused_naming_the_place_in_the_document(path, value, message):
    document = edited(path, value)
    assert list(VALIDATOR.iter_errors(document))
    with pytest.raises(ArchiveError) as caught:
        parse_manifest(json.dumps(document), spec_type_of(document))
    assert str(caught.value).startswith(f"manifest.json does not match its schema {SCHEMA_VERSION}: {message}")


def test_rules_that_join_fields_are_the_types_own():
    """The schema states each field; what joins several (a guard names a declared feature) only the types check."""
    document = edited("spec.guards.0.feature", "z")
    assert not list(VALIDATOR.iter_errors(document))
    with pytest.raises(ArchiveError, match=r"spec: guards\[0\]\.feature 'z' is not a declared feature \(\['x'\]\)"):
        parse_manifest(json.dumps(document), spec_type_of(document))


def test_an_unknown_task_is_named_with_the_tasks_this_copy_knows():
    with pytest.raises(ArchiveError, match=r"spec\.task 'detection' has no handler here; known tasks: \['convention', "):
        spec_type_of(edited("spec.task", "detection"))
