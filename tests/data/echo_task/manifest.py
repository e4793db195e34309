"""The ``echo`` task's part of the manifest: ``echo: {reply}`` (travels with the handler, imports the core relatively)."""

from __future__ import annotations

from typing import Literal

from ...core.manifest_types import SpecBase
from ...core.section import Section


class Echo(Section):
    reply: str


class EchoSpec(SpecBase):
    task: Literal["echo"]
    echo: Echo


SPEC = EchoSpec
