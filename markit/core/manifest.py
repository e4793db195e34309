"""Reading and checking an archive's own manifest (``manifest.json``) at worker start.

The builder writes the manifest; this module reads it and defines its identity. Every file the
archive packs is listed with its sha256, so a worker refuses an archive whose files were changed
after build, a file added beside them, a symbolic link, and a manifest whose content no longer gives
the identity it states (an edit that updated a file's hash but not the identity).

The identity is a sha256 over the canonical JSON of everything that defines the served model
(schema version, spec section, file hashes) and nothing that merely records the build (time,
machine, tool versions), so rebuilding the same inputs gives the same identity. A compiled program
counts by what it was compiled from and for (see ``identity_of``), since no compiler here emits the
same bytes twice; its sha256 is still listed and checked like every file's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..engines.torchserve.entry import MANIFEST_NAME, changed_file, file_sha256, unlisted_file
from .errors import ArchiveError

__all__ = ["ENVELOPE_MAJORS", "MANIFEST_NAME", "SCHEMA_MAJOR", "SCHEMA_VERSION", "SIGNATURE_NAME", "canonical_json", "file_sha256",
           "identity_of", "load_manifest", "verify_files", "verify_identity", "verify_tree"]

MAR_MANIFEST = "MAR-INF/MANIFEST.json"  # TorchServe's own, written after ours: not listed, checked by markit.archive.verify
SIGNATURE_NAME = "signature.sigstore.json"  # build_mar.sh --sign: over every other member, checked by markit.archive.verify --trust
SCHEMA_VERSION = "2.0"  # what this builder writes and this run-time reads (core.manifest_types)
SCHEMA_MAJOR = 2
# Majors whose envelope (schema_version, identity, files) this module reads: every archive ever built, each
# served by the run-time code it carries (engines.torchserve.entry.load_runtime); 1.x's spec is typed differently.
ENVELOPE_MAJORS = (1, 2)
REBUILD = "./scripts/build_mar.sh SPEC.yaml"


def load_manifest(archive_dir: Path, majors: tuple[int, ...] = (SCHEMA_MAJOR,)) -> dict[str, Any]:
    """The manifest as written (a dict: the identity is computed from it), if its schema's major is one of ``majors``:
    by default this run-time's own. ArchiveError naming the version and the rebuild command otherwise."""
    path = archive_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ArchiveError(f"{MANIFEST_NAME} is missing from {archive_dir}: was this archive made by build_mar.sh?") from err
    except (OSError, ValueError) as err:
        raise ArchiveError(f"{MANIFEST_NAME} cannot be read: {err}") from err
    if not isinstance(manifest, dict):
        raise ArchiveError(f"{MANIFEST_NAME}: expected a JSON object, got {type(manifest).__name__}")
    version = str(manifest.get("schema_version", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) not in majors:
        reads = " or ".join(f"{known}.x" for known in majors)
        raise ArchiveError(f"{MANIFEST_NAME}: schema_version {version!r} is not read here (this code reads {reads}); an "
                           f"archive is served by the run-time code it carries: rebuild it with {REBUILD}")
    return manifest


def verify_files(archive_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise ArchiveError naming the first packaged file that is missing or whose hash differs."""
    problem = changed_file(archive_dir, manifest.get("files"))
    if problem:
        raise ArchiveError(problem)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def identity_of(manifest: dict[str, Any]) -> str:
    """``sha256:...`` of the manifest's schema version, spec and file hashes (see the module docstring)."""
    spec, files = manifest["spec"], dict(manifest["files"])
    model = spec.get("model") or {}  # a pipeline has none of its own
    if model.get("format") == "aoti":
        # A compiled program is the fallback model compiled for ``requires``; the compiler's bytes (not
        # reproducible) and its measured difference say how it was built, not which model it is.
        compiled = [program["file"] for program in model["programs"].values()] if "programs" in model else [model["file"]]
        for file in compiled:
            files.pop(file, None)
        spec = {**spec, "model": {key: model[key] for key in ("format", "requires", "fallback")}}
    core = {"schema_version": manifest["schema_version"], "spec": spec, "files": files}
    return "sha256:" + hashlib.sha256(canonical_json(core)).hexdigest()


def verify_identity(manifest: dict[str, Any]) -> None:
    """Raise ArchiveError when the manifest's content does not give the identity it states."""
    try:
        actual = identity_of(manifest)
    except (KeyError, TypeError, ValueError) as err:
        raise ArchiveError(f"{MANIFEST_NAME} lacks what its identity is made of: {err!r}") from err
    if actual != manifest.get("identity"):
        raise ArchiveError(f"{MANIFEST_NAME} states identity {manifest.get('identity')!r} but its content is {actual}: "
                           "the manifest was edited after build, refusing to serve it")


def verify_tree(archive_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise ArchiveError naming a file the manifest does not list, or a symbolic link, in the unpacked archive."""
    problem = unlisted_file(archive_dir, manifest.get("files", {}))
    if problem:
        raise ArchiveError(problem)
