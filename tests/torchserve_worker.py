"""TorchServe's own worker code path, in process, for the compatibility test and the envelope tests.

An archive unpacked as ``serve.sh`` unpacks it, its entry module imported by path and its one class
found with TorchServe's ``list_classes_from_module``; each batch goes through TorchServe's own
``Service.retrieve_data_for_inference`` (the wire dict its frontend sends, with the frontend's JSON and
text decoding) and ``Context``, so statuses are set exactly as in a worker. markit itself runs archives
through ``markit.archive.open`` and never imports ``ts``; this is what proves the two agree.
"""

from __future__ import annotations

import gc
import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from ts.context import Context
from ts.service import Service
from ts.utils.util import list_classes_from_module

from markit.archive.unpack import unpack_verified
from markit.core.importing import import_path
from markit.offline import LocalRequest, LocalResponse


class TorchServeWorker:
    """``with TorchServeWorker(mar) as worker: worker.predict([...])``: a worker's handler, no Java."""

    def __init__(self, mar_path: Path, batch_size: int = 8) -> None:
        self.mar_path, self.batch_size = Path(mar_path), batch_size
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._threads = torch.get_num_threads()

    def __enter__(self) -> TorchServeWorker:
        self._tmp = tempfile.TemporaryDirectory(prefix="ts-worker-")
        directory = Path(self._tmp.name) / "model"
        unpack_verified(self.mar_path, directory)
        mar_manifest = json.loads((directory / "MAR-INF" / "MANIFEST.json").read_text())
        model = mar_manifest["model"]
        self.context = Context(model["modelName"], str(directory), mar_manifest, self.batch_size, None, None)
        module = import_path(directory / model["handler"], "_worker_entry_" + hashlib.sha256(str(directory).encode()).hexdigest()[:16])
        [cls] = list_classes_from_module(module)
        self.entry = cls()
        self.entry.initialize(self.context)
        return self

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._threads)
        gc.unfreeze()  # initialize froze the heap, as a worker's own; this process is the test's
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((Path(self.context.system_properties["model_dir"]) / "manifest.json").read_text(encoding="utf-8"))

    def predict(self, requests: Sequence[LocalRequest]) -> list[LocalResponse]:
        """One batch as a worker answers it: one (status, body) per request."""
        outputs = self.entry.handle(self.receive(requests), self.context)
        return [LocalResponse(self.context.get_response_status(i)[0], _as_read(outputs[i])) for i in range(len(requests))]

    def receive(self, requests: Sequence[LocalRequest]) -> list[dict[str, Any]]:
        """What a worker receives for this batch, with the context set up as TorchServe does."""
        wire = [_wire_request(index, request) for index, request in enumerate(requests)]
        headers, inputs, request_ids = Service.retrieve_data_for_inference(wire)
        self.context.request_ids = request_ids
        self.context.request_processor = headers
        return inputs


def _as_read(body: Any) -> Any:
    """A body as a client reads it: JSON sent encoded (as the adapter sends it) is parsed back."""
    return json.loads(body) if isinstance(body, bytes) else body


def _wire_request(index: int, request: LocalRequest) -> dict[str, Any]:
    """The dict TorchServe's socket protocol produces for one request."""
    parameters = []
    for name, value in request.fields.items():
        content_type = request.content_types.get(name, "")
        parameters.append({"name": name, "contentType": content_type, "value": _frontend_value(value, content_type)})
    headers = [{"name": k.encode(), "value": v.encode()} for k, v in request.headers.items()]
    return {"requestId": f"local-{index}".encode(), "parameters": parameters, "headers": headers}


def _frontend_value(value: Any, content_type: str) -> Any:
    """TorchServe's frontend decodes exactly ``application/json`` into objects and ``text/*`` into str."""
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
