"""From a model store of ``.mar`` files to loaded archives, each checked before any of its code runs.

Per archive, in order, and refused at the first failure with the reason:
1. ``markit.archive.unpack``, as ``serve.sh`` does for TorchServe: the zip's two readings agree, every member is
   listed with its hash, nothing added, the MAR manifest as built, the identity recomputed; unpacked by us
   into the runtime's own directory and checked again there; under a trust policy, the signature over the
   unpacked files and any identity the policy pins; with a pin file, the identity pinned for its model;
2. the archive's own copy of the run-time package is imported under a private name (as TorchServe's
   worker does, ``markit.engines.torchserve.entry``), which verifies the unpacked files again and loads the model;
3. its golden examples are answered and compared with what the build recorded: a model whose answers
   differ here (another CPU, another library) is never served.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ...archive.mar_file import MarInfo, read_mar
from ...archive.pins import Pins
from ...archive.signing import TrustPolicy
from ...archive.unpack import unpack_verified
from ...errors import UsageError
from ...ops.settings import ServingSettings
from ..torchserve.entry import MANIFEST_NAME, load_runtime

__all__ = ["ArchiveRefused", "LoadedArchive", "discover", "load_archive"]

log = logging.getLogger(__name__)


class ArchiveRefused(UsageError):
    """An archive failed a check or its golden examples: it is not served (the message says which and why)."""


@dataclass(frozen=True)
class LoadedArchive:
    """One archive ready to answer: its handler (the archive's own ``TaskHandler``), the archive's own
    ``core`` package it came from (whose ``Request``/``Response`` types it speaks) and its serving settings."""

    info: MarInfo
    identity: str
    core: ModuleType
    handler: Any

    @property
    def name(self) -> str:
        return self.info.name


def discover(store: Path, settings: ServingSettings | None = None, source: Path | None = None) -> list[tuple[Path, MarInfo]]:
    """Every ``*.mar`` in ``store`` with what it declares about serving, changed by ``settings`` (models.yaml)."""
    paths = sorted(Path(store).glob("*.mar"))
    if not paths:
        raise UsageError(f"model store {store}: no .mar archives there; build one with scripts/build_mar.sh")
    infos = [read_mar(path) for path in paths]
    names = [info.name for info in infos]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"model store {store}: two archives serve the model {repeated[0]!r}; keep one")
    if settings is not None:
        infos = settings.apply(infos, source or Path("models.yaml"))
    return list(zip(paths, infos, strict=True))


def older_layout(target: Path) -> str:
    """What to say of an archive whose run-time code predates ``markit.core`` (manifest schema 1.x)."""
    try:
        version = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8")).get("schema_version")
    except (OSError, ValueError, AttributeError):
        version = None
    return (f"its run-time code (manifest schema_version {version!r}) predates the layout this runtime loads (markit.core); "
            "rebuild it with ./scripts/build_mar.sh SPEC.yaml")


def load_archive(path: Path, info: MarInfo, workdir: Path, policy: TrustPolicy | None = None,
                 pins: Pins | None = None) -> LoadedArchive:
    """Check, unpack and load one archive, and replay its golden examples; ``ArchiveRefused`` on any failure."""
    unpacked = unpack_verified(path, Path(workdir) / info.name, policy, pins)
    identity, target = unpacked.identity, unpacked.directory
    try:
        core = importlib.import_module(f"{load_runtime(target).__name__}.core")
        handler = importlib.import_module(f"{core.__name__}.service").create_handler(target)
        failures = importlib.import_module(f"{core.__name__}.golden").replay(handler)
    except ModuleNotFoundError as err:
        raise ArchiveRefused(f"{path.name}: {older_layout(target)}") from err
    except Exception as err:
        raise ArchiveRefused(f"{path.name}: the model did not load: {type(err).__name__}: {err}") from err
    if failures:
        raise ArchiveRefused(f"{path.name}: its golden examples do not reproduce here, so it is not served:\n  "
                             + "\n  ".join(failures))
    log.info("%s: %s %s ready (identity %s, %d golden examples reproduced)", path.name, info.name, info.version,
             identity, len(handler.archive.spec.get("golden") or []))
    return LoadedArchive(info=info, identity=identity, core=core, handler=handler)
