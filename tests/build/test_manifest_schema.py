"""A built archive's manifest is valid against the shipped JSON Schema, and the schema catches a broken one."""

from __future__ import annotations

import json

import jsonschema

from markit.builder.manifest import SCHEMA_PATH


def test_schema_rejects_a_manifest_without_file_hashes(tiny_mar):
    import zipfile

    with zipfile.ZipFile(tiny_mar) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    assert not list(validator.iter_errors(manifest))
    broken = {**manifest, "files": {"model/weights.safetensors": "not-a-hash"}}
    assert any("does not match" in error.message for error in validator.iter_errors(broken))
