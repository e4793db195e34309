"""An unpacked, verified archive: its directory, its manifest as written, and its spec parsed once into the
task's typed spec (``tasks/NAME/manifest.py``), which handlers read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .. import tasks
from .errors import ArchiveError
from .manifest import MANIFEST_NAME, SCHEMA_VERSION, load_manifest, verify_identity, verify_tree
from .manifest_types import SpecBase, parse_manifest
from .section import problems

__all__ = ["UnpackedArchive", "spec_type_of", "task_part"]

Part = TypeVar("Part")


@dataclass(frozen=True)
class UnpackedArchive:
    """``manifest``: as written (the identity is computed from it; describe shows it); ``spec``: its ``spec`` section,
    typed, parsed when the archive is made (from ``manifest`` unless given)."""

    directory: Path
    manifest: dict[str, Any]
    spec: SpecBase = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.spec is None:
            object.__setattr__(self, "spec", _typed_spec(self.manifest))

    @classmethod
    def open(cls, directory: Path) -> UnpackedArchive:
        """Read the manifest, verify that nothing unlisted is there and the identity, and parse it into its types;
        raise ArchiveError on any mismatch. Every file's hash was checked before any module of the archive was
        imported (``engines.torchserve.entry.load_runtime``, the only way to this code in a worker or the KServe
        runtime), so the files are not hashed a second time here."""
        manifest = load_manifest(directory)
        verify_tree(directory, manifest)
        verify_identity(manifest)
        typed = parse_manifest((directory / MANIFEST_NAME).read_bytes(), spec_type_of(manifest))
        return cls(directory=directory, manifest=manifest, spec=typed.spec)

    @property
    def summary(self) -> dict[str, str]:
        """Which artifact answered: echoed in every response."""
        return {"name": self.spec.name, "version": self.spec.version, "identity": self.manifest["identity"]}

    def labels(self) -> list[str]:
        """Labels from the archive's ``index_to_name.json`` (its spec's ``labels``), as a list indexed by class."""
        section = self.spec.labels  # type: ignore[attr-defined]  # the classification tasks' spec types have it
        try:
            mapping = json.loads((self.directory / section.file).read_text(encoding="utf-8"))
            labels = [mapping[str(i)] for i in range(len(mapping))]
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise ArchiveError(f"labels file {section.file!r} is unusable: {err!r}") from err
        if len(labels) != section.count:
            raise ArchiveError(f"labels file has {len(labels)} labels, manifest says {section.count}")
        return labels


def spec_type_of(manifest: dict[str, Any]) -> type[SpecBase]:
    """The typed spec of the manifest's ``spec.task``, from this copy's task registry."""
    spec = manifest.get("spec")
    return task_part(spec.get("task") if isinstance(spec, dict) else None, tasks.spec_type)


def task_part(task: object, lookup: Callable[[str], Part]) -> Part:
    """``lookup(task)`` for a manifest's ``spec.task`` in this copy's task registry; ArchiveError naming the tasks known."""
    try:
        if isinstance(task, str):
            return lookup(task)
    except KeyError:
        pass
    raise ArchiveError(f"{MANIFEST_NAME}: spec.task {task!r} has no handler here; known tasks: {list(tasks.known())}")


def _typed_spec(manifest: dict[str, Any]) -> SpecBase:
    """A manifest given as a dict (a test's, a tool's): its spec read as a file's would be."""
    spec_type = spec_type_of(manifest)
    try:
        return spec_type.model_validate_json(json.dumps(manifest["spec"]), strict=True)
    except ValidationError as err:
        raise ArchiveError(f"{MANIFEST_NAME} does not match its schema {SCHEMA_VERSION}: "
                           f"{problems(err, manifest['spec'], at='spec')}") from err
