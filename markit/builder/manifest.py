"""Composing the archive's manifest: spec, per-file sha256, identity and provenance.

The identity is defined in ``markit.core.manifest.identity_of``, beside the worker's checks, so the
builder, the worker and ``markit.archive.verify`` compute it the same way.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema

from markit.core.manifest import MANIFEST_NAME, canonical_json, file_sha256, identity_of

from .errors import BuildError

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "canonical_json", "compose_manifest", "identity_of", "validate_manifest"]

SCHEMA_VERSION = "1.5"
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "manifest.schema.json"


def compose_manifest(root: Path, spec_section: dict[str, Any], references: dict[str, str]) -> dict[str, Any]:
    """Hash every file under ``root`` and return the validated manifest (not yet written)."""
    files = {
        path.relative_to(root).as_posix(): file_sha256(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    }
    manifest: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "spec": spec_section, "files": files}
    manifest["identity"] = identity_of(manifest)
    manifest["provenance"] = _provenance(references)
    validate_manifest(manifest)
    return manifest


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Check against the committed JSON Schema; BuildError naming the first offending field."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(manifest))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise BuildError(f"manifest does not match {SCHEMA_PATH.name} at {where}: {error.message}")


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
