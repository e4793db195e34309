"""A request body a load generator sends: its bytes, its content type and a label for printed reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...client.cli import content_type_for

__all__ = ["Body", "file_body"]


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
