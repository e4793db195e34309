"""The manifest's JSON Schema, generated from its types: ``python -m markit.schemas [--check]``.

``manifest.schema.json`` beside this module is this function's output, checked in for readers without
Python (and ``tests/unit/test_manifest_schema.py`` fails when the two differ). The types are the contract:
``markit.core.manifest_types`` (the envelope and the sections every archive has) and each built-in task's
``markit/tasks/NAME/manifest.py``; the schema is what a reader of a 2.x manifest accepts (pydantic's
validation view). Rules that join fields (a converted model has a file or programs; seq2seq's defaults within
its maxima) are checked by the types' validators and not stated here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from pydantic.json_schema import GenerateJsonSchema

from markit.core.manifest import SCHEMA_MAJOR, SCHEMA_VERSION
from markit.core.manifest_types import Manifest
from markit.tasks import BUILT_IN, spec_type

__all__ = ["SCHEMA_FILE", "manifest_schema", "schema_text"]

SCHEMA_FILE = Path(__file__).resolve().parent / "manifest.schema.json"
HEADER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.invalid/torchserve-archives/manifest.schema.json",
    "title": "Archive manifest",
    "description": (f"manifest.json at the root of every .mar built by scripts/build_mar.sh, schema {SCHEMA_VERSION}. "
                    "schema_version follows MAJOR.MINOR: readers accept any MINOR of the MAJOR they know; a new MAJOR "
                    f"means a breaking change. Generated from markit's types (python -m markit.schemas); {SCHEMA_MAJOR - 1}.x "
                    "archives are read by the run-time code they carry."),
}


class _Generator(GenerateJsonSchema):
    """pydantic's generator without a title on every field (the field's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def manifest_schema(tasks: Sequence[str] = BUILT_IN) -> dict[str, Any]:
    """The JSON Schema of a manifest of any of ``tasks`` (the spec a union tagged by ``task``): the built-in ones for
    the checked-in file; a task added elsewhere (``markit.tasks.spec_type`` finds it) gets its manifests' schema too."""
    specs = tuple(spec_type(name) for name in tasks)
    union = Annotated[specs[0] if len(specs) == 1 else _union(specs), Field(discriminator="task")]
    schema = Manifest[union].model_json_schema(by_alias=True, schema_generator=_Generator)  # type: ignore[valid-type]
    schema.pop("title", None)
    schema.pop("description", None)
    return {**HEADER, **schema}


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"


def _union(types: tuple[type, ...]) -> Any:
    union = types[0]
    for kind in types[1:]:
        union = union | kind
    return union


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m markit.schemas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {SCHEMA_FILE.name} differs from the types")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.check:
        if SCHEMA_FILE.read_text(encoding="utf-8") != text:
            print(f"{SCHEMA_FILE} differs from the manifest's types: run python -m markit.schemas")
            return 1
        print(f"{SCHEMA_FILE.name} matches the manifest's types")
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0
