"""A request body a load generator sends: its bytes, its content type and a label for printed reports."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ...archive.mar_file import read_mar
from ...client.cli import content_type_for
from ...errors import UsageError

__all__ = ["Body", "file_body", "golden_body"]


@dataclass(frozen=True)
class Body:
    """A request body and its content type; ``label`` says what it is in printed reports."""

    data: bytes
    content_type: str
    label: str


def file_body(path: Path, content_type: str | None = None) -> Body:
    """A file sent as it is, with the given content type or the one its name implies."""
    kind = content_type or content_type_for(path.name)
    data = Path(path).read_bytes()
    return Body(data, kind, f"{path.name} ({len(data) // 1024} KiB, {kind})")


def golden_body(archive: Path) -> Body:
    """The input of the archive's first golden example, as the engines send it when they replay it (a raw body of
    the type its name implies). ``MarFileError`` for an archive that is not one; ``UsageError`` when it has none."""
    read_mar(archive)  # refuses an unreadable or disguised archive before anything is read from it
    with zipfile.ZipFile(archive) as mar:
        try:
            golden = json.loads(mar.read("manifest.json")).get("spec", {}).get("golden") or []
            name = golden[0]["input"] if golden else None
            data = mar.read(name) if name else b""
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise UsageError(f"{Path(archive).name}: no golden input could be read ({type(err).__name__}: {err}); "
                             "give a body with --body FILE [--content-type TYPE]") from err
    if name is None:
        raise UsageError(f"{Path(archive).name}: has no golden example to send; give a body with --body FILE [--content-type TYPE]")
    kind = content_type_for(name)
    return Body(data, kind, f"{name}, the archive's first golden example ({len(data) // 1024} KiB, {kind})")
