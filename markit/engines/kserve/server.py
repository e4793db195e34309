"""The KServe runtime's server: kserve's data plane, REST app and gRPC servicer around the store's archives.

Both listeners start at once (liveness answers while archives load); each archive is then checked, loaded
and its golden examples replayed in a thread, one after the other, and its model turns ready when that
passes (``/v2/health/ready`` once all are). An archive that fails is refused, named, and the server stops
with exit 2: a store is served whole or not at all, as with ``serve.sh``. SIGTERM and SIGINT stop it
gracefully (exit 0): the listeners stop taking requests and the ones in flight are answered within
``grace_seconds`` of the signal, both listeners together, then cut off. A computation still running (a
batch past its response timeout, answered 504, or one cut off) is in a daemon thread (``batching.py``),
which never delays the exit; the log names how many were left.

kserve's ``ModelServer`` is not used as is: it binds every interface, has no token check, and parses the
process's arguments. Its parts are: ``DataPlane`` and ``ModelRepository`` (health, readiness, metadata, the
gRPC ``InferenceServicer`` and its exception interceptor), its v1/v2 REST routes, and its error handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import torch
import uvicorn
from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from grpc import aio
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.v1_endpoints import register_v1_endpoints
from kserve.protocol.rest.v2_endpoints import V2Endpoints, register_v2_endpoints
from starlette.routing import Route

from ...archive.pins import Pins
from ...archive.signing import TrustPolicy
from ...core.errors import refusal_body
from ...core.service import freeze_loaded_heap
from ...errors import MarkitError
from ...ops.settings import ServingSettings
from .archives import LoadedArchive, discover, load_archive
from .auth import METRICS_PATH, OPEN_PATHS, BearerToken, TokenInterceptor, load_or_create_token
from .batching import Batcher, Limits
from .http_errors import add_error_handlers
from .http_limits import HeaderCount, HttpLimits, bounded_protocol
from .limits import MAX_REQUEST_BYTES, BodyLimit
from .metrics import ServerMetrics
from .model import ArchiveModel, BoundedServicer
from .rest import add_inference_routes, add_ping_route, add_version_routes, error_response
from .workdir import owned_dir

__all__ = ["Options", "StoreDataPlane", "serve"]

log = logging.getLogger(__name__)

EXTENSIONS = ("binary_tensor_data",)  # Triton's names of the v2 extensions served (GET /v2, gRPC ServerMetadata)
MAX_GRPC_MESSAGE = 16 * 1024 * 1024  # gRPC's own bound on a message (binary tensors take less room than JSON)
WORK_PREFIX = "markit-kserve-"  # a process's temp dir; a killed one's is removed by the next to start (workdir.py)
HTTP_LIMITS = HttpLimits()  # header size and count, header and body read timeouts, keep-alive on REST (http_limits.py)


@dataclass(frozen=True)
class Options:
    model_store: Path
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 8081
    key_file: Path | None = Path("key_file.json")  # None: no token check (a mesh authenticates)
    open_metrics: bool = False  # /metrics without the token (else it asks for it, as inference does)
    trust: Path | None = None  # a trust policy (config/trust.yaml)
    pins: Path | None = None  # a pin file (config/pins.json): model name -> identity
    settings: Path | None = None  # deploy-time serving settings (config/models.yaml)
    grace_seconds: float = 10.0
    max_request_bytes: int = MAX_REQUEST_BYTES  # a larger REST body is a 413 before it is read whole
    processes: int = 1  # how many processes serve the store (each archive's workers are shared among them)
    http_socket: int | None = None  # one of several processes: the REST listening socket the parent opened (its fd)


class StoreDataPlane(DataPlane):
    """kserve's data plane, ready only when every model of the store is (kserve's own is ready once it starts,
    as its ModelServer starts after loading; these listeners start first). Its server metadata advertises only
    the extension served (Triton's binary tensors; kserve's own names a repository extension this runtime
    refuses), and its model metadata names the served version, as REST and gRPC both answer it."""

    def metadata(self) -> dict[str, Any]:
        return {**DataPlane.metadata(self), "extensions": list(EXTENSIONS)}

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        metadata = await DataPlane.model_metadata(self, model_name)
        model = self.get_model_from_registry(model_name)
        return {**metadata, "versions": [model.version] if getattr(model, "version", None) else None}

    async def ready(self) -> bool:
        models = self.model_registry.get_models().values()
        return bool(models) and all([await model.healthy() for model in models])

    async def live(self) -> dict[str, str]:
        """Live, unless a model has as many computations abandoned past its response timeout as it has slots: those
        threads hold CPU and memory and cannot be killed, so the liveness probe should restart the process."""
        for model in self.model_registry.get_models().values():
            batcher = getattr(model, "batcher", None)
            if batcher is not None and batcher.exhausted:
                reason = (f"model {model.name!r} has {batcher.stuck} computation(s) still running past its response "
                          "timeout, as many as its workers; restart the process to free them")
                log.error("not live: %s", reason)
                return {"status": f"not live: {reason}"}
        return await DataPlane.live()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server without re-raising the signal after its graceful stop (so the runtime exits 0 after cleanup);
    it notes when the signal came (``stopping_since``), so the gRPC listener drains only in what is left of the grace."""

    stopping_since: float | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
        super().handle_exit(sig, frame)

    def grace_left(self, grace: float) -> float:
        """Seconds of ``grace`` left since the signal (all of it when none came)."""
        return grace if self.stopping_since is None else max(0.0, grace - (time.monotonic() - self.stopping_since))

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


async def serve(options: Options) -> int:
    """Serve the store until stopped; 0 after a clean stop, 2 when an archive is refused.

    Alone, both listeners start first and the archives load behind them. As one of several processes
    (``options.http_socket``), a process loads every archive first and only then accepts on the REST socket
    its parent opened for all of them and binds the gRPC port (shared through SO_REUSEPORT): a process still
    loading never takes a request."""
    settings = ServingSettings.load(options.settings) if options.settings else None
    policy = TrustPolicy.load(options.trust) if options.trust else None
    pins = Pins.load(options.pins, must_exist=True) if options.pins else None
    store = discover(options.model_store, settings, options.settings)
    metrics = ServerMetrics()
    models = {info.name: ArchiveModel(info.name, metrics, info.version) for _, info in store}
    registry = ModelRepository()
    for model in models.values():
        registry.update(model)
    dataplane = StoreDataPlane(model_registry=registry)
    extension = ModelRepositoryExtension(model_registry=registry)
    token = load_or_create_token(options.key_file) if options.key_file else None
    app = _rest_app(dataplane, extension, models, metrics, token, options)
    http = _Uvicorn(uvicorn.Config(app, http=bounded_protocol(HTTP_LIMITS), h11_max_incomplete_event_size=2 * HTTP_LIMITS.max_header_bytes,
                                   timeout_keep_alive=HTTP_LIMITS.keep_alive_seconds,
                                   host=options.host, port=options.http_port, log_config=None, loop="asyncio",
                                   lifespan="off", access_log=False, timeout_graceful_shutdown=int(options.grace_seconds)))
    grpc_server = _grpc_server(dataplane, extension, token, options)
    with owned_dir(WORK_PREFIX) as workdir:  # its archives, unpacked
        batchers: list[asyncio.Task] = []
        loader = asyncio.create_task(_load_store(store, models, workdir, (policy, pins), metrics, options, http, batchers))
        try:
            if options.http_socket is not None and not await loader:
                return 2
            await grpc_server.start()
            log.info("serving %s on http://%s:%d and grpc %s:%d (%s)", options.model_store, options.host, options.http_port,
                     options.host, options.grpc_port, "token authorization on" if token else "no token check")
            shared = [socket.socket(fileno=options.http_socket)] if options.http_socket is not None else None
            await http.serve(sockets=shared)
        finally:
            loader.cancel()
            for task in batchers:
                task.cancel()
            loaded = await _outcome(loader)
            for model in models.values():
                model.ready = False
            await grpc_server.stop(http.grace_left(options.grace_seconds))  # both listeners drain within one grace
            _report_abandoned(models.values())
        return 2 if loaded is False else 0


def _slots(info: Any, options: Options) -> int:
    """Batches in flight for one archive in this process: its workers, shared among the processes."""
    return max(1, -(-info.settings["maxWorkers"] // options.processes))


def _rest_app(dataplane: DataPlane, extension: ModelRepositoryExtension, models: dict[str, ArchiveModel],
              metrics: ServerMetrics, token: str | None, options: Options) -> Any:
    app = FastAPI(title="markit KServe runtime", docs_url=None, redoc_url=None, default_response_class=ORJSONResponse)
    add_inference_routes(app, models.get)  # before kserve's routes: these take the inference paths
    add_version_routes(app, models.get, V2Endpoints(dataplane, extension))  # and the versioned metadata paths
    add_ping_route(app, dataplane.ready)  # TorchServe's health route
    app.add_api_route("/", dataplane.live, methods=["GET"])
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"])
    register_v1_endpoints(app, dataplane, extension)
    register_v2_endpoints(app, dataplane, extension)
    # no repository API: loading or unloading a model at run time would skip the checks the store had at start
    app.router.routes.insert(0, Route("/v2/repository/{rest:path}", _no_repository, methods=["GET", "POST"]))
    add_error_handlers(app)  # JSON bodies and one log line, not kserve's tracebacks and reprs
    limited = BodyLimit(app, options.max_request_bytes)
    if not token or options.key_file is None:
        return HeaderCount(limited, HTTP_LIMITS.max_headers)
    open_paths = OPEN_PATHS | {METRICS_PATH} if options.open_metrics else OPEN_PATHS
    guarded = BearerToken(limited, token, options.key_file, open_paths)  # the token first: a stranger's body is never read
    return HeaderCount(guarded, HTTP_LIMITS.max_headers)


async def _no_repository(request: Any) -> Any:
    return error_response(404, "NotFound", "no repository API here: the store is fixed at start; restart to change it")


class _NoRepository(aio.ServerInterceptor):
    """gRPC's RepositoryModelLoad/Unload refused (UNIMPLEMENTED), as the REST repository routes are absent."""

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        if not details.method.startswith("/inference.GRPCInferenceService/Repository"):
            return await continuation(details)

        async def refuse(request: Any, context: aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no repository API: the store is fixed at start")

        return grpc.unary_unary_rpc_method_handler(refuse)


def _grpc_server(dataplane: DataPlane, extension: ModelRepositoryExtension, token: str | None, options: Options) -> aio.Server:
    interceptors = [TokenInterceptor(token, options.key_file)] if token else []
    server = aio.server(interceptors=[*interceptors, _NoRepository(), ExceptionToStatusInterceptor()],
                        options=[("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
                                 ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
                                 ("grpc.so_reuseport", 0 if options.http_socket is None else 1)])
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(BoundedServicer(dataplane, extension), server)
    server.add_insecure_port(f"{options.host}:{options.grpc_port}")
    return server


async def _load_store(store: list, models: dict[str, ArchiveModel], workdir: Path,
                      admission: tuple[TrustPolicy | None, Pins | None], metrics: ServerMetrics, options: Options,
                      http: uvicorn.Server, batchers: list[asyncio.Task]) -> bool:
    """Load every archive in turn and start its batcher (into ``batchers``, which the server cancels when it
    stops); True when all are ready. On a refusal, stop the server and return False."""
    loop = asyncio.get_running_loop()
    for path, info in store:
        try:
            loaded = await loop.run_in_executor(None, load_archive, path, info, workdir, *admission)
        except MarkitError as err:  # a failed check, signature or golden example, named
            log.error("not serving the store: %s", err)
            http.should_exit = True
            return False
        _warn_of_turns(loaded, options)
        batcher = _batcher(loaded, metrics, options)
        batchers.append(asyncio.create_task(batcher.run(), name=f"batcher-{info.name}"))
        models[info.name].serve(loaded, batcher)
    freeze_loaded_heap()  # what loading made lives as long as the process
    log.info("all %d models ready", len(store))
    return True


def _warn_of_turns(loaded: LoadedArchive, options: Options) -> None:
    """A compiled (AOTInductor) program holds Python's GIL while it runs (torch's binding does not release it), so
    the workers of one process take turns on it (``markit capacity`` measures it as crowding, docs/serving.md)."""
    model, slots = loaded.opened.batch_core.task.archive.spec.model, _slots(loaded.info, options)
    if slots > 1 and model is not None and model.format == "aoti":
        log.warning("%s: its %d workers in this process take turns, as its compiled (aoti) program holds Python's GIL "
                    "while it runs; start the runtime with --processes %d to run them at once", loaded.name, slots,
                    loaded.info.settings["maxWorkers"])


def _batcher(loaded: LoadedArchive, metrics: ServerMetrics, options: Options) -> Batcher:
    settings = loaded.info.settings
    limits = Limits(max_batch=settings["batchSize"], max_delay=settings["maxBatchDelay"] / 1000, slots=_slots(loaded.info, options),
                    timeout=float(settings["responseTimeout"]))
    events = metrics.handler_events(loaded.name)
    answer = partial(_answer_batch, loaded.opened.batch_core, events)
    return Batcher(answer, limits, partial(_failed, loaded), partial(_timed_out, loaded),
                   on_batch=partial(metrics.batch, loaded.name), name=loaded.name)


def _answer_batch(batch_core: Any, events: Any, requests: list[Any]) -> list[Any]:
    """One batch, in the thread the batcher started for it. Its archive's torch threads are set in that thread
    first: code compiled by Inductor (``format: aoti``) runs OpenMP regions sized by the calling thread's own
    setting, which a new thread has at the machine's core count, not at what loading set. Measured on two
    processes, the compiled digit detector: 180 req/s and a p99 of 196 ms without this, 1,657 and 9 ms with it."""
    threads = getattr(batch_core, "threads", None)  # an archive built before BatchCore had it: as set at load
    if threads:
        torch.set_num_threads(threads)
    return batch_core.answer(requests, None, events)


def _failed(loaded: LoadedArchive, error: BaseException) -> Any:
    message = f"internal error in the runtime ({type(error).__name__}); see the server log"
    return loaded.opened.core.Response(refusal_body(500, "HandlerError", message), 500, "Internal Server Error")


def _timed_out(loaded: LoadedArchive, seconds: float) -> Any:
    message = (f"model {loaded.name!r} did not answer within its response timeout of {seconds:g} s (serving.response_timeout "
               "in its spec, response_timeout in config/models.yaml); the computation was abandoned and logged: try again, "
               "or send a smaller request")
    return loaded.opened.core.Response(refusal_body(504, "ResponseTimeout", message), 504, "Gateway Timeout")


def _report_abandoned(models: Any) -> None:
    """Name the computations still running at exit (daemon threads: they do not delay it)."""
    for model in models:
        if model.batcher is not None and model.batcher.computing:
            log.warning("model %s: exiting with %d computation(s) still running (%d past the response timeout); "
                        "they are abandoned", model.name, model.batcher.computing, model.batcher.stuck)


async def _outcome(task: asyncio.Task) -> bool | None:
    """The loader's result: True (all loaded), False (an archive refused), None (stopped while loading)."""
    try:
        return await task
    except asyncio.CancelledError:
        return None
