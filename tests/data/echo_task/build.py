"""The ``echo`` task at build time: its spec key ``echo: {reply}`` and the manifest section it stages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markit.builder.spec_reader import Section
from markit.builder.task import Task

from .handler import EchoHandler
from .manifest import Echo


@dataclass(frozen=True)
class EchoSettings:
    reply: str


def parse(top: Section, _spec_dir: Path, _refs: dict[str, str]) -> EchoSettings:
    return EchoSettings(top.section("echo").string("reply"))


def stage(spec: Any, _root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    return {"echo": Echo(reply=spec.settings.reply)}


TASK = Task(name="echo", handler=EchoHandler, required_keys=frozenset({"echo"}), optional_keys=frozenset(),
            budgets={"request_bytes": 1 << 20}, parse=parse, stage=stage)
