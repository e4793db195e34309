"""One archive as a kserve ``Model``: readiness, metadata, and the gRPC path onto the archive's batch core.

REST requests reach the core with their raw bodies (``rest.py``), exactly as TorchServe passes them. A
gRPC ``ModelInfer`` arrives as kserve's ``InferRequest``; ``predict`` turns it into the v2 request it stands
for (numeric tensors as arrays of their datatype, ``BYTES`` elements as ``bytes``, as Triton's binary
extension over REST gives them), so the same protocol code reads it, and turns the v2 answer back into an
``InferResponse`` (outputs in binary, as tritonclient expects over gRPC). A refusal is raised as
``Refused``, which carries the HTTP status the REST routes send and the gRPC status code kserve's
interceptor aborts with. ``BoundedServicer`` is kserve's
gRPC servicer, counting a request's input tensors before kserve converts them (10^6 took kserve 9 s), and
answering ``ModelMetadata`` and ``ModelReady`` for the served version only, as the REST routes do.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
from grpc import StatusCode
from grpc_interceptor.exceptions import GrpcException
from kserve import Model
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse, to_http_parameters
from kserve.utils.numpy_codec import to_np_dtype

from ...core.errors import HandlerError, error_body, refusal_body
from ...errors import MarkitError
from ...protocols.codec import check_input_count
from .archives import LoadedArchive
from .batching import Batcher
from .metrics import ServerMetrics

__all__ = ["ArchiveModel", "BoundedServicer", "Refused", "grpc_code", "not_served"]

GRPC_CODES = {400: StatusCode.INVALID_ARGUMENT, 401: StatusCode.UNAUTHENTICATED, 404: StatusCode.NOT_FOUND,
              413: StatusCode.RESOURCE_EXHAUSTED, 415: StatusCode.INVALID_ARGUMENT, 422: StatusCode.INVALID_ARGUMENT,
              503: StatusCode.UNAVAILABLE, 504: StatusCode.DEADLINE_EXCEEDED}


def grpc_code(status: int) -> StatusCode:
    return GRPC_CODES.get(status, StatusCode.INTERNAL if status >= 500 else StatusCode.INVALID_ARGUMENT)


class Refused(GrpcException, MarkitError):
    """A request the archive refused (or could not answer): its HTTP status and body, and the gRPC code kserve's
    interceptor aborts the call with."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        message = str(body.get("message") or body.get("error") or body)
        super().__init__(message, grpc_code(status))
        self.status = status
        self.body = dict(body)

    def refusal(self) -> dict[str, Any]:
        """The REST body: the OIP error shape (``refusal_body``), with what else the error names (a pipeline's step)."""
        shape = refusal_body(self.status, str(self.body.get("type") or "Refused"), self.details)
        return {**shape, **{key: value for key, value in self.body.items() if key not in shape}}


def not_served(name: str) -> Refused:
    """The one 404 for a model this runtime does not serve, on every REST route and gRPC call."""
    return Refused(404, {"type": "ModelNotFound", "message": f"model {name!r} is not served here; GET /v2/models lists the models"})


class ArchiveModel(Model):
    """A model of the store: not ready until ``serve`` hands it its loaded archive and batcher."""

    def __init__(self, name: str, metrics: ServerMetrics, version: str | None = None) -> None:
        super().__init__(name)
        self.metrics = metrics
        self.version = version  # the archive's, known from its MAR manifest before it loads
        self.archive: LoadedArchive | None = None
        self.batcher: Batcher | None = None

    def serve(self, archive: LoadedArchive, batcher: Batcher) -> None:
        self.archive, self.batcher = archive, batcher
        self.ready = True

    def load(self) -> bool:  # kserve's repository calls this; loading happens in archives.load_archive
        return self.ready

    # -- requests in the archive's own types --------------------------------------------------
    def request(self, fields: Mapping[str, Any], content_types: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        """The archive's ``exchange.Request`` for one HTTP or gRPC request (with a fresh request id, as TorchServe)."""
        return self._archive().opened.request(fields, content_types, headers, str(uuid.uuid4()))

    async def answer(self, request: Any, protocol: str) -> Any:
        """The archive's ``exchange.Response`` to one request, batched with whatever else is queued;
        ``protocol`` labels it in the metrics."""
        if self.batcher is None:
            raise Refused(503, {"code": 503, "type": "ModelNotReady", "message": f"model {self.name!r} is still loading"})
        started = time.perf_counter()
        response = await self.batcher.submit(request)
        self.metrics.answered(self.name, protocol, response.status, time.perf_counter() - started)
        return response

    # -- gRPC ----------------------------------------------------------------------------------
    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        if not isinstance(payload, InferRequest):
            raise Refused(400, {"code": 400, "type": "BadInput", "message": "this route takes v2 InferRequests only"})
        self.check_version(payload.model_version)
        _check_input_count(len(payload.inputs))
        body = _v2_body(payload)
        request = self.request({"body": body}, {"body": "application/json"}, headers or {})
        response = await self.answer(request, "grpc")
        if not response.ok:
            raise Refused(response.status, response.body)
        return _infer_response(response.body, payload)

    def get_input_types(self) -> list[dict[str, Any]]:
        return self._archive().opened.batch_core.v2_inputs()

    def get_output_types(self) -> list[dict[str, Any]]:
        return self._archive().opened.batch_core.v2_outputs()

    def check_version(self, version: str | None) -> None:
        """``Refused`` (404) when a request names a version other than the one served (none named: the served one)."""
        served = self.version or self._archive().info.version
        if version and version != served:
            raise Refused(404, {"code": 404, "type": "ModelVersionNotFound",
                                "message": f"Model version: {version} does not exist for model: {self.name} (this server "
                                           f"serves version {served}; leave the version out or name {served})"})

    def _archive(self) -> LoadedArchive:
        if self.archive is None:
            raise Refused(503, {"code": 503, "type": "ModelNotReady", "message": f"model {self.name!r} is still loading"})
        return self.archive


class BoundedServicer(InferenceServicer):
    """kserve's gRPC servicer; a ``ModelInfer`` with more input tensors than the protocol's bound is refused
    (413, RESOURCE_EXHAUSTED) before kserve turns each into an object (a 16 MiB message holds 10^6)."""

    @classmethod
    def validate_grpc_request(cls, request: pb.ModelInferRequest) -> None:
        _check_input_count(len(request.inputs))
        super().validate_grpc_request(request)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        """The metadata ``GET /v2/models/NAME[/versions/V]`` answers: its versions, NOT_FOUND for another version."""
        self._served(request.name, request.version)
        metadata = await self._data_plane.model_metadata(request.name)
        return pb.ModelMetadataResponse(name=metadata["name"], versions=metadata.get("versions") or [],
                                        platform=metadata["platform"], inputs=metadata["inputs"], outputs=metadata["outputs"])

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        """Readiness as ``GET /v2/models/NAME[/versions/V]/ready`` tells it; NOT_FOUND for another version."""
        self._served(request.name, request.version)
        return pb.ModelReadyResponse(ready=await self._data_plane.model_ready(model_name=request.name))

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        _check_input_count(len(request.inputs))  # before anything else reads the request
        self._served(request.model_name, "")  # the version is the model's to check (predict)
        return await super().ModelInfer(request, context)

    def _served(self, name: str, version: str) -> None:
        """``Refused`` (404, NOT_FOUND) for a model or a version not served, in the REST routes' words."""
        model = self._data_plane.model_registry.get_model(name)
        if model is None:
            raise not_served(name)
        if isinstance(model, ArchiveModel):
            model.check_version(version)


def _check_input_count(count: int) -> None:
    """The protocol's bound on input tensors (``markit.protocols.codec.MAX_INPUTS``), before any is converted."""
    try:
        check_input_count(count)
    except HandlerError as err:
        raise Refused(err.status, error_body(err)) from err


def _v2_body(request: InferRequest) -> dict[str, Any]:
    """The v2 JSON request an ``InferRequest`` stands for."""
    body: dict[str, Any] = {"inputs": [_tensor(tensor) for tensor in request.inputs]}
    if request.id:
        body["id"] = request.id
    parameters = _plain(request.parameters)
    if parameters:
        body["parameters"] = parameters
    if request.request_outputs:
        body["outputs"] = [{"name": output.name} for output in request.request_outputs]
    return body


def _tensor(tensor: Any) -> dict[str, Any]:
    try:
        array = tensor.as_numpy()
    except Exception as err:
        raise Refused(400, {"code": 400, "type": "BadInput",
                            "message": f"KServe v2 request: input {tensor.name!r} cannot be read as {tensor.datatype} "
                                       f"{list(tensor.shape)}: {err}"}) from err
    parameters = {key: value for key, value in _plain(tensor.parameters).items() if key != "binary_data_size"}
    if tensor.datatype == "BYTES":  # bytes, as gRPC's bytes_contents and raw contents hold them
        data: Any = [element.encode("utf-8") if isinstance(element, str) else bytes(element) for element in array.reshape(-1)]
    else:
        data = array.reshape(-1)  # an array of its datatype, to the task (codec.py)
    return {"name": tensor.name, "shape": list(tensor.shape), "datatype": tensor.datatype, "data": data,
            **({"parameters": parameters} if parameters else {})}


def _plain(parameters: Any) -> dict[str, Any]:
    """Request or tensor parameters as JSON values (gRPC's ``InferParameter`` messages unwrapped)."""
    return to_http_parameters(parameters) if parameters else {}


def _infer_response(body: Mapping[str, Any], request: InferRequest) -> InferResponse:
    """The handler's v2 JSON answer as an ``InferResponse``, every output in binary."""
    outputs = []
    for output in body["outputs"]:
        datatype = output["datatype"]
        if datatype == "BYTES":
            array = np.array([str(item).encode("utf-8") for item in output["data"]], dtype=np.object_)
        else:
            array = np.array(output["data"], dtype=to_np_dtype(datatype))
        tensor = InferOutput(output["name"], list(output["shape"]), datatype, parameters=output.get("parameters"))
        tensor.set_data_from_numpy(array.reshape(output["shape"]), binary_data=True)
        outputs.append(tensor)
    return InferResponse(response_id=str(body.get("id") or request.id or uuid.uuid4()), model_name=body["model_name"],
                         infer_outputs=outputs, model_version=body.get("model_version"), from_grpc=request.from_grpc,
                         use_binary_outputs=True, requested_outputs=request.request_outputs)
