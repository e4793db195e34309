"""An unpacked, verified archive: its directory and manifest, with typed access to what handlers need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArchiveError
from .manifest import load_manifest, verify_identity, verify_tree

__all__ = ["UnpackedArchive"]


@dataclass(frozen=True)
class UnpackedArchive:
    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, directory: Path) -> UnpackedArchive:
        """Read the manifest and verify that nothing unlisted is there and the identity; raise ArchiveError on
        any mismatch. Every file's hash was checked before any module of the archive was imported
        (``engines.torchserve.entry.load_runtime``, the only way to this code in a worker or the KServe runtime), so the
        files are not hashed a second time here."""
        manifest = load_manifest(directory)
        verify_tree(directory, manifest)
        verify_identity(manifest)
        return cls(directory=directory, manifest=manifest)

    @property
    def spec(self) -> dict[str, Any]:
        return self.manifest["spec"]

    @property
    def summary(self) -> dict[str, str]:
        """Which artifact answered: echoed in every response."""
        return {"name": self.spec["name"], "version": self.spec["version"], "identity": self.manifest["identity"]}

    def labels(self) -> list[str]:
        """Labels from the archive's ``index_to_name.json``, as a list indexed by class."""
        section = self.spec.get("labels") or {}
        try:
            mapping = json.loads((self.directory / section["file"]).read_text(encoding="utf-8"))
            labels = [mapping[str(i)] for i in range(len(mapping))]
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise ArchiveError(f"labels file {section.get('file')!r} is unusable: {err!r}") from err
        if len(labels) != section.get("count"):
            raise ArchiveError(f"labels file has {len(labels)} labels, manifest says {section.get('count')}")
        return labels
