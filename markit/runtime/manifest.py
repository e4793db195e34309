"""Reading and checking an archive's own manifest (``manifest.json``) at worker start.

The builder writes the manifest; this module only reads it. Every file the archive packs is
listed with its sha256, so a worker can refuse an archive whose files were changed after build.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .errors import ArchiveError

__all__ = ["MANIFEST_NAME", "SUPPORTED_SCHEMA_MAJOR", "file_sha256", "load_manifest", "verify_files"]

MANIFEST_NAME = "manifest.json"
SUPPORTED_SCHEMA_MAJOR = 1
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(archive_dir: Path) -> dict[str, Any]:
    """Parse the manifest and check that this run-time understands its schema version."""
    path = archive_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ArchiveError(f"{MANIFEST_NAME} is missing from {archive_dir}: was this archive made by build_mar.sh?") from err
    except (OSError, ValueError) as err:
        raise ArchiveError(f"{MANIFEST_NAME} cannot be read: {err}") from err
    version = str(manifest.get("schema_version", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) != SUPPORTED_SCHEMA_MAJOR:
        raise ArchiveError(
            f"{MANIFEST_NAME}: schema_version {version!r} is not supported by this handler "
            f"(expects {SUPPORTED_SCHEMA_MAJOR}.x); rebuild the archive with a matching builder"
        )
    return manifest


def verify_files(archive_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise ArchiveError naming the first packaged file that is missing or whose hash differs."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArchiveError(f"{MANIFEST_NAME}: 'files' must list the sha256 of every packaged file")
    root = archive_dir.resolve()
    for name, expected in sorted(files.items()):
        path = (root / name).resolve()
        if root not in path.parents:
            raise ArchiveError(f"{MANIFEST_NAME}: file entry {name!r} points outside the archive")
        if not path.is_file():
            raise ArchiveError(f"archive file {name!r} is missing: the archive is incomplete, refusing to serve it")
        actual = file_sha256(path)
        if actual != expected:
            raise ArchiveError(
                f"archive file {name!r} was modified after build (sha256 {actual[:12]}…, manifest says "
                f"{str(expected)[:12]}…): refusing to serve a tampered archive"
            )
