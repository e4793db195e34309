"""Running a .mar in this process, without a server, through the same core as both engines.

The archive is opened as every engine opens it (``markit.archive.open``: checked, unpacked, checked
again, its own run-time code loaded under a private name), and each batch goes to its handler as the
KServe runtime hands it one: raw fields with their content types, one ``Response`` per request. Nothing
here imports TorchServe; tests/build/test_torchserve_compat.py proves that TorchServe's own worker code
path answers the same. The builder uses this to convert models from their golden inputs, and
``markit.offline.predict`` to answer many inputs without a server.
"""

from __future__ import annotations

import json
import mimetypes
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..archive.mar_file import MarFileError
from ..archive.open import ArchiveRefused, OpenedArchive, open_archive
from ..core.manifest import MANIFEST_NAME
from ..errors import UsageError

__all__ = ["ArchiveLoadError", "LocalArchive", "LocalRequest", "LocalResponse", "content_type_for"]


class ArchiveLoadError(UsageError):
    """The .mar cannot be unpacked, or its handler failed to start (the message says which): exit 2."""


@dataclass(frozen=True)
class LocalRequest:
    """One request as TorchServe's frontend would pass it: named fields with content types."""

    fields: Mapping[str, Any]
    content_types: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def raw(cls, body: bytes, content_type: str) -> LocalRequest:
        return cls(fields={"body": body}, content_types={"body": content_type})

    @classmethod
    def from_file(cls, path: Path) -> LocalRequest:
        """A file sent as the raw body, with the content type its name implies."""
        return cls.raw(path.read_bytes(), content_type_for(path))


def content_type_for(path: Path) -> str:
    """``image/png`` for ``a.png``, ``application/json`` for ``a.json``, ... ; octet-stream when unknown."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass(frozen=True)
class LocalResponse:
    status: int
    body: Any


class LocalArchive:
    """``with LocalArchive(path) as archive: archive.predict([...])``.

    While the ``with`` block lasts, torch runs the archive's ``serving.torch_threads`` as a worker does
    (measured on 2 busy cores: the compiled EfficientNet-Lite0 answered 0.5 requests/s with torch's
    default of one thread per core against other processes, 21 with one thread)."""

    def __init__(self, mar_path: Path, batch_size: int = 8) -> None:
        self.mar_path = Path(mar_path)
        self.batch_size = batch_size
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._opened: OpenedArchive | None = None
        self._threads = torch.get_num_threads()

    def __enter__(self) -> LocalArchive:
        self._tmp = tempfile.TemporaryDirectory(prefix="mar-local-")
        self._threads = torch.get_num_threads()
        try:  # opened as every engine opens an archive; it sets the archive's serving.torch_threads
            self._opened = open_archive(self.mar_path, self.directory, replay=False)
        except (OSError, ValueError, MarFileError) as err:
            self._close()
            raise ArchiveLoadError(f"{self.mar_path} is not a readable .mar: {err}") from err
        except ArchiveRefused as err:
            self._close()
            raise ArchiveLoadError(f"the archive's handler failed to start: {err}") from err
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        torch.set_num_threads(self._threads)  # the worker's thread setting lasts as long as the with block
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def opened(self) -> OpenedArchive:
        if self._opened is None:
            raise RuntimeError("use LocalArchive in a with block")
        return self._opened

    @property
    def task_handler(self) -> Any:
        """The archive's own task (its decode/preprocess/model), as a worker holds it."""
        return self.opened.batch_core.task

    @property
    def directory(self) -> Path:
        """Where the archive is unpacked while the ``with`` block lasts."""
        return Path(self._tmp.name) / "model"

    @property
    def manifest(self) -> dict[str, Any]:
        """The archive's whole manifest.json (describe shows only its public part)."""
        return json.loads((self.directory / MANIFEST_NAME).read_text(encoding="utf-8"))

    def describe(self) -> dict[str, Any]:
        """The archive's public description, as TorchServe's management describe call shows it."""
        return self.opened.batch_core.describe()

    def predict(self, requests: Sequence[LocalRequest]) -> list[LocalResponse]:
        """One batch through the handler; one response (status, JSON body) per request."""
        responses = self.opened.batch_core.answer(self._requests(requests))
        return [LocalResponse(response.status, response.body) for response in responses]

    def example_batch(self, requests: Sequence[LocalRequest]) -> torch.Tensor:
        """The batch tensor the archive's handler makes of these requests (its own decode + preprocess)."""
        return self.task_handler.preprocess(self.decoded(requests))

    def decoded(self, requests: Sequence[LocalRequest]) -> list[Any]:
        """What the archive's handler decodes of these requests (``markit.core.handler.Decoded``, one per request)."""
        return [self.task_handler.decode(request.payload, self.opened.core.NO_METRICS) for request in self._requests(requests)]

    def _requests(self, requests: Sequence[LocalRequest]) -> list[Any]:
        """The archive's own ``Request`` values for this batch, each with an id as an engine gives it."""
        return [self.opened.request(request.fields, request.content_types, request.headers, f"local-{index}")
                for index, request in enumerate(requests)]
