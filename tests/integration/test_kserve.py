"""KServe v1/v2 against real TorchServe processes, token auth on: the handlers' own protocol support
on /v1/models/NAME:predict and /v2/models/NAME/infer (batch-safe), and TorchServe's own
``service_envelope=kserve`` / ``kservev2`` (right for single requests, losing batched ones).

One server runs at a time (native, then each envelope), each loading three small archives."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import torch
from safetensors.torch import save_file

from harness import TorchServeProcess
from markit.builder import build_archive
from markit.client import Reply
from markit.core.golden import same_json
from markit.offline import LocalArchive, LocalRequest

from helpers import REPO, concurrently, import_file, png_bytes, write_tiny_spec

pytestmark = pytest.mark.integration

MODELS = ("tiny", "tiny_one", "kweather")
RED_PNG, BLUE_PNG = png_bytes((220, 20, 30)), png_bytes((20, 20, 230))
RED, BLUE = base64.b64encode(RED_PNG).decode(), base64.b64encode(BLUE_PNG).decode()
FEATURE = "temperature_history"
MISMATCH = "number of batch response mismatched"


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def kserve_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny (batch 4, 2 s delay so concurrent requests form one batch), tiny_one (batch 1), and
    kweather: the weather example's regression spec around an untrained forecaster, with a reject guard."""
    root = tmp_path_factory.mktemp("kserve-store")
    batched = {"workers": 1, "batch_size": 4, "max_batch_delay": 2000}
    build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny"), serving=batched), root, progress=quiet)
    single = {"workers": 1, "batch_size": 1, "max_batch_delay": 10}
    build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny-one"), name="tiny_one", serving=single), root, progress=quiet)
    work = tmp_path_factory.mktemp("kweather")
    torch.manual_seed(0)
    model = import_file(REPO / "examples" / "weather" / "model.py", "weather_model_for_kserve").TemperatureForecaster()
    model.mean.fill_(50.0)
    model.std.fill_(10.0)
    save_file(model.state_dict(), str(work / "weights.safetensors"))
    (work / "golden.json").write_text(json.dumps({FEATURE: history(0)}))
    build_archive(REPO / "examples" / "weather" / "spec.yaml", root, progress=quiet, overrides=[
        "name=kweather", f"model.weights={work / 'weights.safetensors'}",
        f"golden=[{{input: {work / 'golden.json'}, expected: {{units: {{temperature_plus_1h: degF}}}}}}]",
        f"guards=[{{feature: {FEATURE}, min: -30, max: 120, policy: reject}}]",
    ])
    return root


def history(shift: float) -> list[float]:
    return [round(45.0 + shift + hour * 0.3, 1) for hour in range(24)]


class Servers:
    """One TorchServe at a time, per envelope ('' for none), on the same three archives."""

    def __init__(self, store: Path, root: Path) -> None:
        self.store, self.root = store, root
        self.envelope: str | None = None
        self.process: TorchServeProcess | None = None

    def get(self, envelope: str) -> TorchServeProcess:
        if self.process is None or envelope != self.envelope:
            self.stop()
            overrides = {"load_models": ",".join(f"{m}.mar" for m in MODELS)}
            if envelope:
                overrides["service_envelope"] = envelope
            self.process = TorchServeProcess(REPO / "config" / "config.properties", self.store,
                                             self.root / (envelope or "native"), overrides=overrides)
            self.envelope = envelope
            self.process.start()
            self.process.wait_ready(MODELS)
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope="module")
def servers(kserve_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    manager = Servers(kserve_store, tmp_path_factory.mktemp("kserve-servers"))
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture
def server(servers: Servers, request: pytest.FixtureRequest) -> TorchServeProcess:
    """Named like conftest's fixture so that a failing test's report carries this server's logs."""
    return servers.get(getattr(request, "param", ""))


V1_ENVELOPE = pytest.mark.parametrize("server", ["kserve"], indirect=True)
V2_ENVELOPE = pytest.mark.parametrize("server", ["kservev2"], indirect=True)


def post(server: TorchServeProcess, path: str, body: Any = None, data: bytes | None = None, content_type: str = "") -> Reply:
    headers = {"Authorization": f"Bearer {server.client.token('inference')}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = requests.post(server.url("inference") + path, json=body, data=data, headers=headers, timeout=60)
    try:
        return Reply(response.status_code, response.json(), dict(response.headers))
    except ValueError:
        return Reply(response.status_code, response.text, dict(response.headers))


def v1(model: str) -> str:
    return f"/v1/models/{model}:predict"


def v2(model: str) -> str:
    return f"/v2/models/{model}/infer"


def tensor(name: str, shape: list[int], datatype: str, data: list) -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def images(shape: list[int], data: list[str]) -> dict:
    """Images in JSON: a BYTES element is its string's UTF-8, so base64 text is opted into (parameters.content_type)."""
    return {**tensor("image", shape, "BYTES", data), "parameters": {"content_type": "base64"}}


def v2_answers(body: dict) -> list[Any]:
    """The JSON answers of a v2 response: its ``answer`` output (typed outputs beside it are checked apart), or the
    one output TorchServe's kservev2 envelope names after the input."""
    outputs = body["outputs"]
    output = outputs[0] if len(outputs) == 1 else {output["name"]: output for output in outputs}["answer"]
    assert output["datatype"] == "BYTES" and output["shape"] == [len(output["data"])]
    return [json.loads(text) for text in output["data"]]


def close(first: Any, second: Any, tolerance: float = 1e-5) -> bool:
    """Equal JSON; floats may differ in the last digits when TorchServe formed other batches."""
    return same_json(first, second, tolerance)


def offline(store: Path, model: str, bodies: list[Any]) -> list[Any]:
    """The /predictions answers of the archive's own handler code, run in process (no envelope)."""
    with LocalArchive(store / f"{model}.mar") as archive:
        requests_ = [LocalRequest(fields={"body": b}, content_types={"body": "application/json"}) for b in bodies]
        responses = archive.predict(requests_)
    assert all(r.status == 200 for r in responses), [r.body for r in responses]
    return [r.body for r in responses]


def wait_for_count(server: TorchServeProcess, line: str, before: int, name: str = "model_log.log") -> int:
    """How often ``line`` is in the log, once it grew past ``before`` (worker logs flush asynchronously)."""
    deadline = time.monotonic() + 10
    while (count := server.log_text(name).count(line)) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def worker_pids(server: TorchServeProcess, model: str) -> list[int]:
    return [w["pid"] for entry in server.client.status(model).body for w in entry["workers"]]


# -- native: no envelope, the handlers speak both protocols ----------------------------------
def test_v1_and_v2_in_one_dynamic_batch_equal_predictions(server):
    line = "batch of 4 requests: 4 answered, 0 refused"
    before = server.log_text().count(line)
    plain_red, plain_blue, first, second = concurrently([
        lambda: post(server, "/predictions/tiny", data=RED_PNG, content_type="image/png"),
        lambda: post(server, "/predictions/tiny", {"image": BLUE}),
        lambda: post(server, v1("tiny"), {"instances": [RED, {"b64": BLUE}, {"image": RED, "top_k": 1}]}),
        lambda: post(server, v2("tiny"), {"id": "req-7", "inputs": [images([2], [BLUE, RED])]}),
    ])
    assert [r.status for r in (plain_red, plain_blue, first, second)] == [200] * 4, second.body
    assert wait_for_count(server, line, before) == before + 1  # the four requests were one TorchServe batch
    red, blue = plain_red.body, plain_blue.body
    assert set(first.body) == {"predictions"}
    assert close(first.body["predictions"], [red, blue, {**red, "predictions": red["predictions"][:1]}])
    assert (second.body["model_name"], second.body["model_version"], second.body["id"]) == ("tiny", "1.0", "req-7")
    assert close(v2_answers(second.body), [blue, red])


def test_a_bad_instance_fails_only_its_request_in_the_batch(server):
    before_pids = worker_pids(server, "tiny")
    line = "batch of 4 requests: 2 answered, 2 refused"
    before = server.log_text().count(line)
    bad_v1, bad_v2, good_v1, plain = concurrently([
        lambda: post(server, v1("tiny"), {"instances": [RED, "@@"]}),
        lambda: post(server, v2("tiny"), {"inputs": [images([2], [RED, BLUE]), tensor("top_k", [2], "INT32", [1, 99])]}),
        lambda: post(server, "/predictions/tiny", {"instances": [BLUE]}),  # the body decides, not the route
        lambda: post(server, "/predictions/tiny", data=BLUE_PNG, content_type="image/png"),
    ])
    assert [r.status for r in (bad_v1, bad_v2, good_v1, plain)] == [400, 400, 200, 200]
    assert wait_for_count(server, line, before) == before + 1
    assert bad_v1.body["error"] == bad_v1.body["message"]
    assert bad_v1.body["message"].startswith("instances[1]: the JSON string is not valid base64")
    assert bad_v2.body["message"] == "instance 1: top_k must be an integer from 1 to 3 (this model's postprocess.top_k is 3), got 99"
    assert close(good_v1.body, {"predictions": [plain.body]})
    assert worker_pids(server, "tiny") == before_pids  # the worker never restarted


def test_regression_features_as_named_v2_tensors(server):
    rows = [history(0), history(8.5)]
    singles = concurrently([lambda row=row: post(server, "/predictions/kweather", {FEATURE: row}) for row in rows])
    by_v2 = post(server, v2("kweather"), {"inputs": [tensor(FEATURE, [2, 24], "FP32", [v for row in rows for v in row])]})
    by_v1 = post(server, v1("kweather"), {"instances": [{FEATURE: row} for row in rows]})
    assert [r.status for r in (*singles, by_v2, by_v1)] == [200] * 4
    expected = [r.body for r in singles]
    assert expected[0]["prediction"] != expected[1]["prediction"]
    assert close(v2_answers(by_v2.body), expected, 2e-4)  # predictions are rounded to 4 decimals
    assert close(by_v1.body["predictions"], expected, 2e-4)
    typed = {output["name"]: output for output in by_v2.body["outputs"] if output["name"] != "answer"}
    assert set(typed) == set(expected[0]["prediction"])  # one FP32 tensor per declared output, with its unit
    for name, output in typed.items():
        assert output["datatype"] == "FP32" and output["shape"] == [2] and output["parameters"] == {"unit": "degF"}
        assert close(output["data"], [answer["prediction"][name] for answer in expected], 2e-4)
    hot = post(server, v2("kweather"), {"inputs": [tensor(FEATURE, [2, 24], "FP32", rows[0] + [150.0] * 24)]})
    assert hot.status == 422
    assert hot.body["message"] == ("instance 1: temperature_history: value 150 is outside the range [-30.0, 120.0] "
                                   "this model was trained on (guards, policy reject)")
    typo = post(server, v2("kweather"), {"inputs": [tensor("temperature", [1, 24], "FP32", rows[0])]})
    assert typo.status == 400
    assert typo.body["message"] == ("KServe v2 request: input 'temperature' is not one this model takes; "
                                   "it takes 'temperature_history' FP32 [-1, 24]")
    wrong = post(server, v2("kweather"), {"inputs": [tensor(FEATURE, [1, 24], "FP64", rows[0])]})  # the declared datatype only
    assert wrong.status == 400 and wrong.body["message"].startswith(f"KServe v2 request: input '{FEATURE}' is FP64 [1, 24], but this "
                                                                    "model expects FP32 [-1, 24] (feature in degF)")


# -- TorchServe's kserve (v1) envelope -----------------------------------------------------------
@V1_ENVELOPE
def test_kserve_envelope_answers_single_requests(server, kserve_store):
    red, blue = offline(kserve_store, "tiny_one", [{"image": RED}, {"image": BLUE}])
    reply = post(server, v1("tiny_one"), {"instances": [RED, {"b64": BLUE}]})
    assert reply.status == 200
    assert close(reply.body, {"predictions": [red, blue]})
    rows = [{FEATURE: history(0)}, {FEATURE: history(3)}]
    forecast = post(server, v1("kweather"), {"instances": rows})
    assert forecast.status == 200
    assert close(forecast.body["predictions"], offline(kserve_store, "kweather", rows), 2e-4)
    bad = post(server, v1("tiny_one"), {"instances": [RED, "@@"]})
    assert bad.status == 400
    [error] = bad.body["predictions"]  # the envelope wraps whatever the handler returns
    assert error["message"].startswith("instances[1]: the JSON string is not valid base64")


@V1_ENVELOPE
def test_kserve_envelope_fails_every_request_of_a_batch(server):
    """TorchServe's envelope answers only the first request of a batch, as one item: the batch of 4
    gets 4 x 503, and plain requests cannot pass the envelope at all."""
    pids = worker_pids(server, "tiny")
    before = server.log_text().count(MISMATCH)
    replies = concurrently([lambda: post(server, v1("tiny"), {"instances": [RED]})] * 4)
    assert [(r.status, r.body["message"]) for r in replies] == [(503, MISMATCH)] * 4
    assert wait_for_count(server, MISMATCH, before) > before
    assert "number of batch response mismatched, expect: 4, got: 1" in server.log_text()
    alone = post(server, v1("tiny"), {"instances": [RED]})  # a batch of one (after the 2 s batch delay) is fine
    assert alone.status == 200 and len(alone.body["predictions"]) == 1
    raw = post(server, "/predictions/tiny_one", data=RED_PNG, content_type="image/png")
    assert (raw.status, raw.body["message"]) == (503, "Prediction failed")
    describe = requests.get(server.url("management") + "/models/tiny_one?customized=true", timeout=30,
                            headers={"Authorization": f"Bearer {server.client.token('management')}"})
    assert describe.status_code == 503  # the envelope cannot parse describe requests either
    assert worker_pids(server, "tiny") == pids


# -- TorchServe's kservev2 envelope --------------------------------------------------------------
@V2_ENVELOPE
def test_kservev2_envelope_answers_single_requests(server, kserve_store):
    [red] = offline(kserve_store, "tiny_one", [{"image": RED}])
    reply = post(server, v2("tiny_one"), {"id": "env-1", "inputs": [images([1], [RED])]})
    assert reply.status == 200
    assert (reply.body["id"], reply.body["model_name"], reply.body["model_version"]) == ("env-1", "tiny_one", "1.0")
    assert reply.body["outputs"][0]["name"] == "image"  # the envelope names the output after the input
    assert close(v2_answers(reply.body), [red])
    rows = [history(0), history(5)]
    forecast = post(server, v2("kweather"), {"inputs": [tensor(FEATURE, [2, 24], "FP32", [v for row in rows for v in row])]})
    assert forecast.status == 200  # numeric tensors keep all their rows through the envelope
    assert close(v2_answers(forecast.body), offline(kserve_store, "kweather", [{FEATURE: row} for row in rows]), 2e-4)
    two = post(server, v2("tiny_one"), {"inputs": [images([2], [RED, BLUE])]})
    assert two.status == 400  # the envelope kept only the first image; the handler says so instead of answering one
    error = json.loads(two.body["outputs"][0]["data"][0])
    assert "TorchServe's kservev2 envelope passes only the first element of a BYTES tensor" in error["message"]


@V2_ENVELOPE
def test_kservev2_envelope_fails_every_request_of_a_batch(server):
    before = server.log_text().count(MISMATCH)
    body = {"inputs": [images([1], [RED])]}
    replies = concurrently([lambda: post(server, v2("tiny"), body)] * 4)
    assert [(r.status, r.body["message"]) for r in replies] == [(503, MISMATCH)] * 4
    assert wait_for_count(server, MISMATCH, before) > before
    assert "number of batch response mismatched, expect: 4, got: 1" in server.log_text()
