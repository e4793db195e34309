"""Opening an archive: the one path from a ``.mar`` to its loaded handler, for every engine and tool.

In order, refused at the first failure with the reason (``ArchiveRefused``):
1. the archive is checked from its bytes and unpacked by us, then checked again unpacked (``unpack``),
   under a trust policy and pins when given;
2. its own copy of the run-time code is imported under a private name
   (``engines.torchserve.entry.load_runtime``, which checks every unpacked file once more), so no
   installed copy of this project can stand in for the code that was verified;
3. its batch core over its task is made by its own ``core.service`` (the worker's thread setting, the model
   in its form);
4. its golden examples are replayed by its own ``core.golden`` (unless the caller replays them itself).

The KServe runtime, the offline runner (``markit.offline``) and the builder's golden check open archives
here; TorchServe's worker takes steps 2-3 from the archive's entry module.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from ..engines.torchserve.entry import MANIFEST_NAME, RUNTIME_PACKAGE, load_runtime
from ..errors import UsageError
from .pins import Pins
from .signing import TrustPolicy
from .unpack import unpack_verified

__all__ = ["ArchiveRefused", "OpenedArchive", "open_archive", "open_unpacked"]


class ArchiveRefused(UsageError):
    """An archive failed a check, did not load, or its golden examples did not reproduce (the message says which)."""


@dataclass(frozen=True)
class OpenedArchive:
    """One archive ready to answer: where it is unpacked, its identity, its own ``core`` package (whose
    ``Request``/``Response`` it speaks) and its ``batch_core`` (its own ``BatchCore``, whose ``task`` is its
    ``TaskHandler``)."""

    directory: Path
    identity: str
    core: ModuleType
    batch_core: Any

    @cached_property
    def _payload(self) -> type:
        return importlib.import_module(f"{self.core.__name__}.payload").Payload

    def request(self, fields: Mapping[str, Any], content_types: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None, request_id: str | None = None) -> Any:
        """The archive's ``core.exchange.Request`` for named fields (raw bytes or JSON values) and their content types."""
        payload = self._payload(dict(fields), dict(content_types or {}))
        return self.core.Request(payload, request_id, {str(key).lower(): value for key, value in (headers or {}).items()})

    def replay_golden(self) -> list[str]:
        """Every golden example through the batch core: the differences, each naming its input (none: all reproduce)."""
        return importlib.import_module(f"{self.core.__name__}.golden").replay(self.batch_core)


def open_archive(mar: Path, into: Path, policy: TrustPolicy | None = None, pins: Pins | None = None,
                 replay: bool = True) -> OpenedArchive:
    """Check, unpack at ``into`` (replaced if present) and load ``mar``; replay its golden examples when ``replay``."""
    unpacked = unpack_verified(Path(mar), into, policy, pins)  # MarFileError naming the first failure
    return open_unpacked(unpacked.directory, unpacked.identity, Path(mar).name, replay)


def open_unpacked(directory: Path, identity: str, label: str, replay: bool = True) -> OpenedArchive:
    """Load an archive that ``unpack`` checked and unpacked at ``directory`` (``label`` names it in messages)."""
    if not (Path(directory) / RUNTIME_PACKAGE / "core" / "service.py").is_file():
        raise ArchiveRefused(f"{label}: {_older_layout(directory)}")
    try:
        core = importlib.import_module(f"{load_runtime(directory).__name__}.core")
        batch_core = importlib.import_module(f"{core.__name__}.service").create_handler(directory)
    except Exception as err:  # whatever the archive's own code raises, as a worker would log it
        raise ArchiveRefused(f"{label}: the model did not load: {type(err).__name__}: {err}") from err
    opened = OpenedArchive(Path(directory), identity, core, batch_core)
    failures = opened.replay_golden() if replay else []
    if failures:
        raise ArchiveRefused(f"{label}: its golden examples do not reproduce here, so it is not served:\n  " + "\n  ".join(failures))
    return opened


def _older_layout(directory: Path) -> str:
    """What to say of an archive whose run-time code predates ``markit.core`` (manifest schema 1.x)."""
    try:
        version = json.loads((Path(directory) / MANIFEST_NAME).read_text(encoding="utf-8")).get("schema_version")
    except (OSError, ValueError, AttributeError):
        version = None
    return (f"its run-time code (manifest schema_version {version!r}) predates the layout this version loads "
            "(markit.core); rebuild it with ./scripts/build_mar.sh SPEC.yaml")
