"""What the integration tests and their conftest share (a module of its own: "conftest" names one module per tier,
and which tier's a test would import depends on the order pytest loaded them)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from markit.core.manifest import identity_of

__all__ = ["SHADOW_MESSAGE", "quiet", "rewrite_manifest"]

SHADOW_MESSAGE = "SHADOW COPY IMPORTED: the archive's own code was shadowed"


def quiet(_: str) -> None:
    pass


def rewrite_manifest(source: Path, target: Path, change) -> None:
    """Copy an archive with ``change(spec)`` applied to its manifest, as if built so (the files' hashes stay
    valid, the identity is recomputed)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                change(manifest["spec"])
                manifest["identity"] = identity_of(manifest)
                data = json.dumps(manifest).encode()
            copy.writestr(info, data)
