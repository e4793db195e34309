"""Running a .mar in this process the way a TorchServe worker does, without a server.

The archive is checked and unpacked as for serving (``markit.archive.unpack``), its handler module is
imported by path and its one class is found with TorchServe's own ``list_classes_from_module``; requests go through TorchServe's own
``Service.retrieve_data_for_inference`` and ``Context``, so statuses and headers are set exactly as
in a worker. The builder uses this to check golden examples before an archive is published, and
``markit.offline.predict`` to answer many inputs without a server.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ts.context import Context
from ts.service import Service
from ts.utils.util import list_classes_from_module

from markit.core.importing import import_path
from markit.core.manifest import MANIFEST_NAME

from ..archive.mar_file import MarFileError
from ..archive.unpack import unpack_verified
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
        self._handler: Any = None
        self._context: Context | None = None
        self._threads = torch.get_num_threads()

    def __enter__(self) -> LocalArchive:
        self._tmp = tempfile.TemporaryDirectory(prefix="mar-local-")
        model_dir = self.directory
        try:  # checked and unpacked as every engine is given an archive
            unpack_verified(self.mar_path, model_dir)
            mar_manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
        except (OSError, ValueError, MarFileError) as err:
            self._tmp.cleanup()
            raise ArchiveLoadError(f"{self.mar_path} is not a readable .mar: {err}") from err
        model = mar_manifest["model"]
        self._context = Context(model["modelName"], str(model_dir), mar_manifest, self.batch_size, None, None)
        self._threads = torch.get_num_threads()
        try:
            self._handler = _handler_instance(model_dir / model["handler"])
            self._handler.initialize(self._context)  # sets the archive's serving.torch_threads, as in a worker
        except Exception as err:  # whatever the archive's own code raises, as a worker would log it
            self._tmp.cleanup()
            torch.set_num_threads(self._threads)
            raise ArchiveLoadError(f"the archive's handler failed to start: {type(err).__name__}: {err}") from err
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._threads)  # the worker's thread setting lasts as long as the with block
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def task_handler(self) -> Any:
        """The archive's own task handler (its decode/preprocess/model), as the worker holds it."""
        return self._adapter.handler

    @property
    def _adapter(self) -> Any:
        """The archive's TorchServe adapter, which the entry module holds."""
        return self._handler._handler

    @property
    def directory(self) -> Path:
        """Where the archive is unpacked while the ``with`` block lasts."""
        return Path(self._tmp.name) / "model"

    @property
    def manifest(self) -> dict[str, Any]:
        """The archive's whole manifest.json (describe shows only its public part)."""
        return json.loads((self.directory / MANIFEST_NAME).read_text(encoding="utf-8"))

    def describe(self) -> dict[str, Any]:
        """What TorchServe's management describe call answers: a request without fields, ``describe: True``."""
        request = LocalRequest(fields={}, headers={"describe": "True"})
        return self.predict([request])[0].body

    def predict(self, requests: Sequence[LocalRequest]) -> list[LocalResponse]:
        """One batch through the handler; one response (status, JSON body) per request."""
        inputs = self._receive(requests)
        outputs = self._handler.handle(inputs, self._context)
        return [LocalResponse(self._context.get_response_status(i)[0], outputs[i]) for i in range(len(requests))]

    def example_batch(self, requests: Sequence[LocalRequest]) -> torch.Tensor:
        """The batch tensor the archive's handler makes of these requests (its own decode + preprocess)."""
        return self.task_handler.preprocess(self.decoded(requests))

    def decoded(self, requests: Sequence[LocalRequest]) -> list[Any]:
        """What the archive's handler decodes of these requests (``markit.core.handler.Decoded``, one per request)."""
        inputs = self._receive(requests)
        return [self._adapter.decode_request(item, self._context, i) for i, item in enumerate(inputs)]

    def _receive(self, requests: Sequence[LocalRequest]) -> list[dict[str, Any]]:
        """What a worker receives for this batch, with the context set up as TorchServe does."""
        batch = [_wire_request(index, request) for index, request in enumerate(requests)]
        headers, inputs, request_ids = Service.retrieve_data_for_inference(batch)
        self._context.request_ids = request_ids
        self._context.request_processor = headers
        return inputs


def _handler_instance(path: Path) -> Any:
    name = "_local_entry_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module = import_path(path, name)
    classes = list_classes_from_module(module)
    if len(classes) != 1:
        raise ArchiveLoadError(f"handler {path.name} must define exactly one class, found {len(classes)}")
    return classes[0]()


def _wire_request(index: int, request: LocalRequest) -> dict[str, Any]:
    """The dict TorchServe's socket protocol produces for one request."""
    parameters = []
    for name, value in request.fields.items():
        content_type = request.content_types.get(name, "")
        parameters.append({"name": name, "contentType": content_type, "value": _frontend_value(value, content_type)})
    headers = [{"name": k.encode(), "value": v.encode()} for k, v in request.headers.items()]
    return {"requestId": f"local-{index}".encode(), "parameters": parameters, "headers": headers}


def _frontend_value(value: Any, content_type: str) -> Any:
    """TorchServe decodes exactly ``application/json`` into objects and ``text/*`` into str."""
    if isinstance(value, bytes) and content_type == "application/json":
        try:
            return json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # TorchServe forwards the bytes on any failure
            return value
    if isinstance(value, bytes) and content_type.startswith("text"):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value
