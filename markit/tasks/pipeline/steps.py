"""The pipeline's steps: each an archive unpacked inside the pipeline's own, loaded in this worker by its own copy
of the run-time code, and answering through its own batch core.

A step is loaded as an engine loads an archive, and checked once more on the way: its identity recomputed
from its manifest and compared with the one the pipeline pins, then every one of its files against that
manifest (``entry.load_runtime``), both before any of its code runs; its model loaded by its own
``core.service``, its golden examples replayed. Any failure is an ``ArchiveError`` naming the step, so a
pipeline with a swapped, tampered or misbehaving step never reports ready.

A step is asked as a client would ask it, in process: one ``Request`` per value (its own types), all of one
node's values in one ``answer`` call, so they are batched through its model together.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from ...core.errors import ArchiveError
from ...core.manifest import MANIFEST_NAME, verify_identity
from ...core.unpacked import UnpackedArchive
from ...engines.torchserve.entry import load_runtime
from .manifest import StepArchive

__all__ = ["LoadedStep", "StepAnswer", "load_steps"]

TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class StepAnswer:
    """One value's answer from a step: its JSON body, HTTP status and reason phrase."""

    body: Any
    status: int
    phrase: str

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def message(self) -> str:
        body = self.body
        return str(body.get("message") or body.get("error") or body) if isinstance(body, dict) else str(body)


@dataclass(frozen=True)
class LoadedStep:
    """A step ready to answer: its name in the pipeline, its pin, and its own ``core`` package and batch core."""

    name: str
    pin: StepArchive
    core: ModuleType
    batch_core: Any

    @property
    def capabilities(self) -> Any:
        """What the step's archive declares it can do (``metadata.capabilities``), for a switch's capability guard."""
        return self.batch_core.task.archive.spec.metadata.capabilities

    def answer(self, values: Sequence[Any]) -> list[StepAnswer]:
        """One answer per value, in order, from one pass through the step (its batch core isolates each value).
        A value is a request's own fields (a dict of the engine's fields and content types), bytes, text or JSON."""
        if not values:
            return []
        responses = self.batch_core.answer([self._request(value) for value in values])
        return [StepAnswer(response.body, response.status, response.phrase) for response in responses]

    @cached_property
    def _payload_type(self) -> type:
        """The step's own ``Payload`` (its run-time copy's), which its batch core reads."""
        return importlib.import_module(f"{self.core.__name__}.payload").Payload

    def _request(self, value: Any) -> Any:
        if isinstance(value, Forwarded):
            return self.core.Request(self._payload_type(dict(value.fields), dict(value.content_types)))
        fields, types = _fields(value)
        return self.core.Request(self._payload_type(fields, types))


@dataclass(frozen=True)
class Forwarded:
    """The request's own input fields, passed to a step that reads the request as the caller sent it."""

    fields: dict[str, Any]
    content_types: dict[str, str]


def _fields(value: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A value as a request body: bytes as octet-stream (a step's decoder tells an image by its header), text as
    text/plain, anything else as parsed JSON."""
    if isinstance(value, (bytes, bytearray)):
        return {"body": bytes(value)}, {"body": "application/octet-stream"}
    if isinstance(value, str):
        return {"body": value}, {"body": TEXT_TYPE}
    return {"body": value}, {"body": "application/json"}


def load_steps(archive: UnpackedArchive, pins: dict[str, StepArchive]) -> dict[str, LoadedStep]:
    """Every step of the pipeline at ``archive``, checked and loaded, in the order the spec lists them."""
    return {name: load_step(archive.directory, name, pin) for name, pin in pins.items()}


def load_step(root: Path, name: str, pin: StepArchive) -> LoadedStep:
    """Step ``name``: its files checked against its manifest, its identity against ``pin``, its model loaded and its
    golden examples replayed; ``ArchiveError`` naming the step and what failed."""
    directory = (root / pin.directory).resolve()
    if root.resolve() not in directory.parents:
        raise ArchiveError(f"step {name!r}: its directory {pin.directory!r} is not inside the pipeline's archive")
    try:
        identity = _identity(directory)  # before any of its code runs: the identity covers every file's hash
    except ArchiveError as err:
        raise ArchiveError(f"step {name!r} ({pin.directory}): {err}") from err
    if identity != pin.identity:
        raise ArchiveError(f"step {name!r} ({pin.directory}): its identity is {identity}, and the pipeline pins "
                           f"{pin.identity}: refusing a step archive that is not the one the pipeline was built with")
    try:
        runtime = load_runtime(directory)  # every file against the manifest just pinned, then its own code imported
    except Exception as err:  # the step's own check (RuntimeError naming the file) or its code failing to import
        raise ArchiveError(f"step {name!r} ({pin.directory}): {err}") from err
    core = importlib.import_module(f"{runtime.__name__}.core")
    try:
        batch_core = importlib.import_module(f"{core.__name__}.service").create_handler(directory)
    except Exception as err:  # whatever its own code raises while loading
        raise ArchiveError(f"step {name!r} ({pin.name} {pin.version}) did not load: {type(err).__name__}: {err}") from err
    failures = importlib.import_module(f"{core.__name__}.golden").replay(batch_core)
    if failures:
        raise ArchiveError(f"step {name!r} ({pin.name} {pin.version}): its golden examples do not reproduce here: "
                           + "; ".join(failures[:3]))
    return LoadedStep(name, pin, core, batch_core)


def _identity(directory: Path) -> str:
    """The step's identity, recomputed from its manifest (``verify_identity`` refuses one that does not match)."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ArchiveError(f"{directory.name}: {MANIFEST_NAME} cannot be read: {err}") from err
    verify_identity(manifest)
    return str(manifest["identity"])
