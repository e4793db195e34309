"""Composing the archive's manifest: spec, per-file sha256, identity and provenance.

The spec section is the task's spec type (``markit/tasks/NAME/manifest.py``) made of what staging wrote, and
written as its JSON; the whole manifest is then read back the way a worker reads it (``parse_manifest``), so
an archive whose manifest would not load is never written. The identity is defined in
``markit.core.manifest.identity_of``, beside the worker's checks, so the builder, the worker and
``markit.archive.verify`` compute it the same way.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from markit.core.errors import ArchiveError
from markit.core.manifest import MANIFEST_NAME, SCHEMA_VERSION, canonical_json, file_sha256, identity_of
from markit.core.manifest_types import SpecBase, parse_manifest
from markit.core.section import problems
from markit.core.unpacked import spec_type_of

from .errors import BuildError

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "canonical_json", "compose_manifest", "identity_of", "typed_spec", "validate_manifest"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "manifest.schema.json"


def compose_manifest(root: Path, spec_section: dict[str, Any], references: dict[str, str]) -> dict[str, Any]:
    """Hash every file under ``root`` and return the validated manifest (not yet written)."""
    files = {
        path.relative_to(root).as_posix(): file_sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    }
    spec = typed_spec(spec_section).model_dump(mode="json")
    manifest: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "spec": spec, "files": files}
    manifest["identity"] = identity_of(manifest)
    manifest["provenance"] = _provenance(references)
    validate_manifest(manifest)
    return manifest


def typed_spec(section: dict[str, Any]) -> SpecBase:
    """The task's spec type made of the staged section (typed sections, or dicts for the model, budgets, metadata)."""
    spec_type = spec_type_of({"spec": section})
    try:
        return spec_type.model_validate(section)
    except ValidationError as err:
        raise BuildError(f"the manifest's spec does not match its schema {SCHEMA_VERSION}: {problems(err, section, at='spec')}") from err


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Read the manifest back as a worker does (``markit.core.manifest_types.parse_manifest``); BuildError naming the
    places at fault."""
    try:
        parse_manifest(json.dumps(manifest), spec_type_of(manifest))
    except ArchiveError as err:
        raise BuildError(str(err)) from err


def _provenance(references: dict[str, str]) -> dict[str, Any]:
    from . import __version__

    return {
        "builder_version": __version__,
        "built_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "python_version": platform.python_version(),
        "torch_version": _version("torch"),
        "torch_model_archiver_version": _version("torch-model-archiver"),
        "platform": f"{sys.platform}-{platform.machine()}",
        "inputs": dict(sorted(references.items())),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError as err:
        raise BuildError(f"{distribution} is not installed; run ./scripts/test.sh or pip install -e . first") from err
