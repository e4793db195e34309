"""From a model store of ``.mar`` files to loaded archives, each checked before any of its code runs.

The store's archives are found with what each declares about serving (``discover``), then each is opened
by ``markit.archive.open`` (the one path of every engine and tool: checked from its bytes, unpacked,
checked again, its own run-time code loaded under a private name, its golden examples reproduced, so a
model whose answers differ here, on another CPU or library, is never served).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ...archive.mar_file import MarInfo, read_mar
from ...archive.open import ArchiveRefused, OpenedArchive, open_archive
from ...archive.pins import Pins
from ...archive.signing import TrustPolicy
from ...errors import UsageError
from ...ops.settings import ServingSettings

__all__ = ["ArchiveRefused", "LoadedArchive", "discover", "load_archive"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedArchive:
    """One archive of the store, opened (``OpenedArchive``: its own ``core`` package and batch core), with what
    its MAR manifest and the store's settings say of serving it."""

    info: MarInfo
    opened: OpenedArchive

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


def load_archive(path: Path, info: MarInfo, workdir: Path, policy: TrustPolicy | None = None,
                 pins: Pins | None = None) -> LoadedArchive:
    """Check, unpack and load one archive, and replay its golden examples; ``ArchiveRefused`` on any failure."""
    opened = open_archive(path, Path(workdir) / info.name, policy, pins)
    log.info("%s: %s %s ready (identity %s, %d golden examples reproduced)", path.name, info.name, info.version,
             opened.identity, len(opened.batch_core.task.archive.spec.golden))
    return LoadedArchive(info=info, opened=opened)
