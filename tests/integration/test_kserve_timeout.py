"""The KServe runtime's response timeout, started as a user starts it: a request whose computation hangs gets a 504
with a JSON body (gRPC: DEADLINE_EXCEEDED) after the archive's response timeout, the next request is answered
while the computation still hangs, the log names it, the liveness probe asks for a restart (as many abandoned
computations as workers), and SIGTERM ends the process within its grace period with the computation still
hanging (it waited for it forever before)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

from harness import KServeRuntimeProcess
from markit.builder import build_archive

from helpers import quiet, write_convention_spec

pytestmark = pytest.mark.integration

TIMEOUT = 2  # s: the archive's serving.response_timeout
GRACE = 10.0  # s: the runtime's grace period (server.Options.grace_seconds)
HANG = b"[9, 9, 9, 9]"  # the input the model hangs on
SLEEPER = '''

class Sleeper(Scorer):
    """Scorer that hangs for ten minutes on [9, 9, 9, 9]: a computation stuck for good."""

    def preprocess(self, raw):
        import time

        if (raw.tolist() if hasattr(raw, "tolist") else raw) in (b"[9, 9, 9, 9]", [9, 9, 9, 9]):  # a v2 row is an array
            time.sleep(600)
        return super().preprocess(raw)
'''


@contextlib.contextmanager
def serving(directory: Path, timeout: int) -> Iterator[KServeRuntimeProcess]:
    """The runtime serving a Sleeper archive whose serving.response_timeout is ``timeout`` (one worker, batch 1)."""
    spec = write_convention_spec(directory / "spec", cls="Sleeper")
    with (directory / "spec" / "tiny_convention.py").open("a") as source:
        source.write(SLEEPER)
    store = directory / "store"
    build_archive(spec, store, progress=quiet,
                  overrides=["serving.workers=1", "serving.batch_size=1", f"serving.response_timeout={timeout}"])
    process = KServeRuntimeProcess(store, directory / "runtime")
    with process:
        process.wait_ready()
        yield process


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[KServeRuntimeProcess]:
    with serving(tmp_path, TIMEOUT) as process:
        yield process


def predict(runtime: KServeRuntimeProcess, body: bytes) -> requests.Response:
    return requests.post(f"{runtime.url()}/predictions/scorer", data=body, timeout=60,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {runtime.token()}"})


def grpc_infer(runtime: KServeRuntimeProcess, values: list[float]) -> grpc.RpcError | pb.ModelInferResponse:
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 4],
                                                   contents=pb.InferTensorContents(fp32_contents=values))
    with grpc.insecure_channel(runtime.grpc_address) as channel:
        try:
            return pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                pb.ModelInferRequest(model_name="scorer", inputs=[tensor]), timeout=60,
                metadata=[("authorization", f"Bearer {runtime.token()}")])
        except grpc.RpcError as err:
            return err


def test_a_hung_computation_is_a_504_its_slot_is_freed_and_sigterm_still_exits_within_the_grace(runtime):
    started = time.monotonic()
    hung = predict(runtime, HANG)
    waited = time.monotonic() - started
    assert hung.status_code == 504 and TIMEOUT <= waited < TIMEOUT + 5
    assert hung.json()["type"] == "ResponseTimeout" and f"response timeout of {TIMEOUT} s" in hung.json()["message"]
    answered = predict(runtime, b"[1, 2, 3, 4]")  # the only slot is free again, the hung computation still sleeps
    assert answered.status_code == 200 and answered.json()["result"]["label"] == "tiny-score"
    live = requests.get(f"{runtime.url()}/v2/health/live", timeout=10)  # one abandoned, one worker: restart me
    assert live.status_code == 503 and "has 1 computation(s) still running past its response timeout" in runtime.log_tail(200)

    refused = grpc_infer(runtime, [9.0, 9.0, 9.0, 9.0])
    assert isinstance(refused, grpc.RpcError) and refused.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert f"response timeout of {TIMEOUT} s" in refused.details()
    assert "ran past its response timeout of 2 s" in runtime.log_tail(200)

    in_flight = threading.Thread(target=predict, args=(runtime, HANG))  # a third hang, in flight at SIGTERM
    in_flight.start()
    time.sleep(0.5)
    stopping = time.monotonic()
    code = runtime.stop(timeout=GRACE + 20)
    stopped = time.monotonic() - stopping
    in_flight.join(30)
    assert code == 0 and stopped < GRACE, f"exit {code} after {stopped:.1f} s"


def test_sigterm_exits_within_the_grace_with_hung_computations_in_flight_on_both_listeners(tmp_path):
    with serving(tmp_path, 600) as runtime:  # the response timeout never comes: the grace alone bounds the exit
        in_flight = [threading.Thread(target=predict, args=(runtime, HANG)),
                     threading.Thread(target=grpc_infer, args=(runtime, [9.0, 9.0, 9.0, 9.0]))]
        for thread in in_flight:
            thread.start()
        time.sleep(1.0)
        stopping = time.monotonic()
        code = runtime.stop(timeout=GRACE + 20)
        stopped = time.monotonic() - stopping
        for thread in in_flight:
            thread.join(30)
        log = runtime.log_tail(200)
    assert code == 0 and stopped < GRACE + 3, f"exit {code} after {stopped:.1f} s"  # 3 s: the process's own teardown
    assert "model scorer: exiting with 1 computation(s) still running (0 past the response timeout)" in log
