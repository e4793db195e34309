"""The KServe runtime's parts without a server: batching, the token check, the gRPC request and answer conversion."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from kserve.model_repository import ModelRepository
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from markit.engines.kserve.auth import BearerToken, load_or_create_token
from markit.engines.kserve.batching import Batcher, Limits
from markit.engines.kserve.limits import BodyLimit
from markit.engines.kserve.metrics import ServerMetrics
from markit.engines.kserve.model import ArchiveModel, Refused, _infer_response, _v2_body, grpc_code
from markit.engines.kserve.server import Options, StoreDataPlane, _answer_batch, _warn_of_turns
from markit.errors import UsageError


# -- batching -------------------------------------------------------------------------------------
class Recorder:
    """An ``answer`` that records each batch and answers each request with its own value doubled."""

    def __init__(self, seconds: float = 0.0, fail_on: object = None) -> None:
        self.batches: list[list[int]] = []
        self.seconds, self.fail_on = seconds, fail_on
        self.lock = threading.Lock()
        self.running = self.most_running = 0

    def __call__(self, requests: list[int]) -> list[int]:
        with self.lock:
            self.batches.append(list(requests))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        if self.fail_on in requests:
            raise RuntimeError("boom")
        return [request * 2 for request in requests]


async def run_batcher(answer: Recorder, limits: Limits, submit) -> list:
    batcher = Batcher(answer, limits, failed=lambda error: f"failed: {error}", timed_out=lambda seconds: f"timed out: {seconds:g}")
    consumer = asyncio.create_task(batcher.run())
    try:
        return await submit(batcher)
    finally:
        consumer.cancel()


def test_an_idle_batcher_answers_a_lone_request_at_once_without_waiting_for_the_delay():
    answer = Recorder()

    async def one(batcher):
        started = time.perf_counter()
        result = await batcher.submit(21)
        return result, time.perf_counter() - started

    result, seconds = asyncio.run(run_batcher(answer, Limits(max_batch=8, max_delay=5.0, slots=1), one))
    assert result == 42 and answer.batches == [[21]]
    assert seconds < 2.0  # the 5 s delay was not waited: nothing else was running


def test_requests_arriving_while_a_batch_runs_form_the_next_batch_up_to_max_batch():
    answer = Recorder(seconds=0.3)

    async def many(batcher):
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.1)  # the first batch is running now
        rest = [asyncio.create_task(batcher.submit(n)) for n in range(1, 8)]
        return await asyncio.gather(first, *rest)

    results = asyncio.run(run_batcher(answer, Limits(max_batch=4, max_delay=0.0, slots=1), many))
    assert results == [n * 2 for n in range(8)]
    assert answer.batches == [[0], [1, 2, 3, 4], [5, 6, 7]]


def test_slots_run_batches_side_by_side_and_a_partial_batch_waits_for_company_while_another_runs():
    answer = Recorder(seconds=0.4)

    async def pairs(batcher):
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(batcher.submit(1))  # a slot is free, but a batch runs: wait up to 0.2 s
        await asyncio.sleep(0.1)
        third = asyncio.create_task(batcher.submit(2))  # arrives within the delay: same batch as 1
        return await asyncio.gather(first, second, third)

    results = asyncio.run(run_batcher(answer, Limits(max_batch=4, max_delay=0.2, slots=2), pairs))
    assert results == [0, 2, 4]
    assert answer.batches == [[0], [1, 2]] and answer.most_running == 2


def test_a_batch_that_raises_fails_its_own_requests_and_the_next_batch_is_answered():
    answer = Recorder(fail_on=13)

    async def two(batcher):
        failed = await batcher.submit(13)
        return failed, await batcher.submit(4)

    failed, fine = asyncio.run(run_batcher(answer, Limits(max_batch=4, max_delay=0.0, slots=1), two))
    assert failed == "failed: boom" and fine == 8


class Stuck:
    """An ``answer`` that hangs on the request 99 until released, and doubles any other."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []

    def __call__(self, requests: list[int]) -> list[int]:
        self.threads.append(threading.current_thread())
        if 99 in requests:
            self.release.wait(30)
        return [request * 2 for request in requests]


def test_a_batch_past_the_timeout_gets_its_answer_and_frees_its_slot_while_its_thread_runs_on(caplog):
    answer = Stuck()

    async def stuck_then_next(batcher):
        started = time.perf_counter()
        stuck = asyncio.create_task(batcher.submit(99))
        await asyncio.sleep(0.05)
        after = asyncio.create_task(batcher.submit(5))  # one slot: waits behind the stuck batch
        results = [await stuck, time.perf_counter() - started, await after, batcher.stuck]
        answer.release.set()
        while batcher.stuck:  # the abandoned computation ends; its answer is discarded
            await asyncio.sleep(0.01)
        return results

    timed_out, seconds, after, stuck = asyncio.run(run_batcher(answer, Limits(1, 0.0, slots=1, timeout=0.3), stuck_then_next))
    assert timed_out == "timed out: 0.3" and 0.3 <= seconds < 2.0
    assert after == 10 and stuck == 1  # answered while the stuck computation still ran
    assert all(thread.daemon for thread in answer.threads) and len(answer.threads) == 2  # never delays the exit
    assert "ran past its response timeout of 0.3 s" in caplog.text and "ended after" in caplog.text


def test_a_batch_within_the_timeout_is_answered_as_usual():
    async def one(batcher):
        return await batcher.submit(4), batcher.stuck

    assert asyncio.run(run_batcher(Recorder(seconds=0.1), Limits(1, 0.0, slots=1, timeout=1.0), one)) == (8, 0)


def test_the_server_is_not_live_once_a_model_has_as_many_abandoned_computations_as_slots(caplog):
    model = ArchiveModel("stuck-model", ServerMetrics())
    model.batcher = Batcher(Recorder(), Limits(1, 0.0, slots=2, timeout=1.0), failed=repr)
    registry = ModelRepository()
    registry.update(model)
    dataplane = StoreDataPlane(model_registry=registry)
    statuses = []
    for stuck in (0, 1, 2):
        model.batcher.stuck = stuck
        statuses.append(asyncio.run(dataplane.live())["status"])
    assert statuses[:2] == ["alive", "alive"] and statuses[2].startswith("not live: model 'stuck-model' has 2 computation(s)")
    assert "not live: model 'stuck-model'" in caplog.text


# -- the token ------------------------------------------------------------------------------------
def test_a_missing_key_file_is_written_owner_only_and_read_back(tmp_path):
    path = tmp_path / "key_file.json"
    token = load_or_create_token(path)
    assert len(token) >= 24 and path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"inference": {"key": token}}
    assert load_or_create_token(path) == token


def test_a_key_file_without_an_inference_key_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"management": {"key": "x"}}')
    with pytest.raises(UsageError, match=r"keys\.json: not a key file with an inference key"):
        load_or_create_token(path)


def asgi_status(app, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    asyncio.run(app({"type": "http", "path": path, "headers": headers}, receive, send))
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


async def ok_app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/v2/models/m/infer", [(b"authorization", b"Bearer secret-token-0123456789")], 200),
    ("/v2/models/m/infer", [(b"authorization", b"Bearer wrong")], 401),
    ("/v2/models/m/infer", [], 401),
    ("/predictions/m", [(b"authorization", b"secret-token-0123456789")], 401),  # the scheme is part of it
    ("/v2/health/ready", [], 200),
    ("/metrics", [], 401),  # model names and traffic: open only with --open-metrics
    ("/v2/models/m", [], 401),  # metadata needs the token
])
def test_the_bearer_token_guards_every_path_but_health(path, headers, status, tmp_path):
    app = BearerToken(ok_app, "secret-token-0123456789", tmp_path / "key_file.json")
    got, body = asgi_status(app, path, headers)
    assert got == status
    if status == 401:
        assert json.loads(body)["message"].startswith("Token Authorization failed")


# -- gRPC requests and answers -------------------------------------------------------------------
def test_an_infer_request_becomes_the_v2_json_request_it_stands_for():
    text = InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array([b"hello", "café".encode()], dtype=np.object_), binary_data=True)
    rows = InferInput("history", [1, 3], "FP32")
    rows.set_data_from_numpy(np.array([[1.5, 2.0, 3.25]], dtype=np.float32), binary_data=False)
    request = InferRequest("m", [text, rows], request_id="r-1", parameters={"timeout": 5},
                           request_outputs=[RequestedOutput("answer")])
    body = _v2_body(request)
    assert body["id"] == "r-1" and body["parameters"] == {"timeout": 5} and body["outputs"] == [{"name": "answer"}]
    [bytes_tensor, numbers] = body["inputs"]
    assert bytes_tensor == {"name": "text", "shape": [2], "datatype": "BYTES", "data": [b"hello", "café".encode()]}
    assert {key: value for key, value in numbers.items() if key != "data"} == {"name": "history", "shape": [1, 3], "datatype": "FP32"}
    assert numbers["data"].dtype == np.float32 and numbers["data"].tolist() == [1.5, 2.0, 3.25]  # an array: no Python floats


def test_an_unreadable_tensor_is_a_400_naming_it():
    broken = InferInput("image", [3], "FP32", data=[1.0, 2.0])  # 2 elements for a shape of 3
    with pytest.raises(Refused, match="input 'image' cannot be read as FP32 \\[3\\]") as caught:
        _v2_body(InferRequest("m", [broken]))
    assert caught.value.status == 400


def test_the_v2_answer_becomes_binary_outputs_with_the_request_id():
    body = {"model_name": "m", "model_version": "1.0", "id": "r-2",
            "outputs": [{"name": "answer", "shape": [2], "datatype": "BYTES", "data": ['{"a":1}', '{"a":2}']}]}
    response = _infer_response(body, InferRequest("m", [], request_id="r-2"))
    assert response.id == "r-2" and response.model_name == "m"
    assert [json.loads(item) for item in response.outputs[0].as_numpy()] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(("status", "code"), [(400, "INVALID_ARGUMENT"), (413, "RESOURCE_EXHAUSTED"), (415, "INVALID_ARGUMENT"),
                                              (422, "INVALID_ARGUMENT"), (500, "INTERNAL"), (503, "UNAVAILABLE"),
                                              (504, "DEADLINE_EXCEEDED")])
def test_each_http_status_has_its_grpc_code(status, code):
    assert grpc_code(status).name == code


# -- the body limit ---------------------------------------------------------------------------------
def run_asgi(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes]:
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1} for index, chunk in enumerate(chunks)]

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": "/predictions/m", "headers": headers}, receive, send))
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


async def echo_length(scope, receive, send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def test_a_body_within_the_limit_reaches_the_app_whole():
    assert run_asgi(BodyLimit(echo_length, 10), [], [b"12345", b"67890"]) == (200, b"10")


def test_a_body_declared_too_large_is_a_413_before_any_of_it_is_read():
    status, body = run_asgi(BodyLimit(echo_length, 10), [(b"content-length", b"11")], [b"x" * 11])
    assert status == 413 and json.loads(body)["message"].startswith("the request body is 11 bytes, more than this server's limit of 10")


def test_a_body_that_grows_past_the_limit_while_arriving_is_a_413():
    status, body = run_asgi(BodyLimit(echo_length, 10), [], [b"123456", b"789012"])
    assert status == 413 and json.loads(body)["type"] == "PayloadTooLarge"


def _in_a_new_thread(work):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(work()))
    thread.start()
    thread.join()
    return seen[0]


def test_each_batch_thread_runs_with_its_archives_torch_threads():
    """A new thread starts with OpenMP's default thread count, whatever loading set (code compiled by Inductor
    sizes its parallel regions by it): the batch's thread sets its archive's count before answering."""
    fresh = _in_a_new_thread(torch.get_num_threads)

    class Core:
        threads = fresh + 1  # not what a new thread has by itself

        def answer(self, requests, served, events):
            return [torch.get_num_threads()]

    assert _in_a_new_thread(lambda: _answer_batch(Core(), None, [])) == [fresh + 1]


def _loaded(fmt: str | None, workers: int) -> SimpleNamespace:
    model = None if fmt is None else SimpleNamespace(format=fmt)
    archive = SimpleNamespace(spec=SimpleNamespace(model=model))
    return SimpleNamespace(name="minilm", info=SimpleNamespace(settings={"maxWorkers": workers}),
                           opened=SimpleNamespace(batch_core=SimpleNamespace(task=SimpleNamespace(archive=archive))))


@pytest.mark.parametrize(("fmt", "workers", "processes", "warned"), [
    ("aoti", 2, 1, True), ("aoti", 2, 2, False), ("aoti", 1, 1, False), ("onnx", 2, 1, False), (None, 4, 1, False),
])
def test_workers_that_take_turns_on_a_compiled_program_are_named_with_the_option_that_parts_them(caplog, fmt, workers,
                                                                                                 processes, warned):
    with caplog.at_level(logging.WARNING):
        _warn_of_turns(_loaded(fmt, workers), Options(model_store=Path("store"), processes=processes))
    expected = ("minilm: its 2 workers in this process take turns, as its compiled (aoti) program holds Python's GIL "
                "while it runs; start the runtime with --processes 2 to run them at once")
    assert [record.getMessage() for record in caplog.records] == ([expected] if warned else [])
