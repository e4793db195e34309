"""What TorchServeClient sends (method, path, query) and how it reads tokens, without a server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from markit.client.client import NoManifest, Reply, TorchServeClient, manifest_of

INFERENCE, MANAGEMENT = "http://127.0.0.1:9080", "http://127.0.0.1:9081"


def response(status: int, body: Any) -> requests.Response:
    reply = requests.Response()
    reply.status_code = status
    reply._content = json.dumps(body).encode()
    reply.headers["Content-Type"] = "application/json"
    return reply


class FakeServer:
    """Stands in for ``requests.request``: records each call, answers from a queue (then 200 {}); an
    exception in the queue is raised instead, as a dropped connection."""

    def __init__(self, *answers: requests.Response) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answers: list[Any] = list(answers)

    def __call__(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0) if self.answers else response(200, {})
        if isinstance(answer, Exception):
            raise answer
        return answer


def write_keys(path: Path, inference: str = "inf", management: str = "man") -> Path:
    path.write_text(json.dumps({"inference": {"key": inference}, "management": {"key": management}, "API": {"key": "api"}}))
    return path


@pytest.fixture
def fake(monkeypatch) -> FakeServer:
    server = FakeServer()
    monkeypatch.setattr(requests, "request", server)
    return server


@pytest.fixture
def client(tmp_path) -> TorchServeClient:
    return TorchServeClient(INFERENCE, MANAGEMENT, write_keys(tmp_path / "key_file.json"))


CALLS: list[tuple[Callable[[TorchServeClient], Reply], str, str, dict[str, str]]] = [
    (lambda c: c.predict_bytes("tiny", b"x", "image/png"), "POST", INFERENCE + "/predictions/tiny", {}),
    (lambda c: c.predict_bytes("tiny", b"x", "image/png", version="2.0"), "POST", INFERENCE + "/predictions/tiny/2.0", {}),
    (lambda c: c.predict_json("tiny", [1], "2.0"), "POST", INFERENCE + "/predictions/tiny/2.0", {}),
    (lambda c: c.predict_base64("tiny", b"x", version="2.0", top_k=1), "POST", INFERENCE + "/predictions/tiny/2.0", {}),
    (lambda c: c.predict_form("tiny", {"image": ("a.png", b"x", "image/png")}, version="2.0"), "POST",
     INFERENCE + "/predictions/tiny/2.0", {}),
    (lambda c: c.list_models(), "GET", MANAGEMENT + "/models", {}),
    (lambda c: c.list_models(limit=1, next_page_token="3"), "GET", MANAGEMENT + "/models", {"limit": "1", "next_page_token": "3"}),
    (lambda c: c.status("tiny"), "GET", MANAGEMENT + "/models/tiny", {}),
    (lambda c: c.status("tiny", "all"), "GET", MANAGEMENT + "/models/tiny/all", {}),
    (lambda c: c.status("tiny", "2.0", customized=True), "GET", MANAGEMENT + "/models/tiny/2.0", {"customized": "true"}),
    (lambda c: c.register("tiny-2.0.mar"), "POST", MANAGEMENT + "/models", {"url": "tiny-2.0.mar", "synchronous": "true"}),
    (lambda c: c.register("t.mar", model_name="x", initial_workers=0, batch_size=4, max_batch_delay=50, synchronous=False),
     "POST", MANAGEMENT + "/models", {"url": "t.mar", "model_name": "x", "initial_workers": "0", "batch_size": "4",
                                      "max_batch_delay": "50", "synchronous": "false"}),
    (lambda c: c.unregister("tiny"), "DELETE", MANAGEMENT + "/models/tiny", {}),
    (lambda c: c.unregister("tiny", "1.0"), "DELETE", MANAGEMENT + "/models/tiny/1.0", {}),
    (lambda c: c.scale("tiny", 2), "PUT", MANAGEMENT + "/models/tiny", {"min_worker": "2", "synchronous": "true"}),
    (lambda c: c.scale("tiny", 1, 3, "2.0", synchronous=False), "PUT", MANAGEMENT + "/models/tiny/2.0",
     {"min_worker": "1", "max_worker": "3", "synchronous": "false"}),
    (lambda c: c.set_default("tiny", "2.0"), "PUT", MANAGEMENT + "/models/tiny/2.0/set-default", {}),
    (lambda c: c.status("a/b?c", "1 0"), "GET", MANAGEMENT + "/models/a%2Fb%3Fc/1%200", {}),  # parts are quoted
]


@pytest.mark.parametrize(("call", "method", "url", "params"), CALLS)
def test_requests_sent(fake, client, call, method, url, params):
    call(client)
    [sent] = fake.calls
    assert (sent["method"], sent["url"], sent.get("params") or {}) == (method, url, params)
    api = "inf" if url.startswith(INFERENCE) else "man"
    assert sent["headers"]["Authorization"] == f"Bearer {api}"


def test_the_version_goes_in_the_path_never_the_query(fake, client):
    client.predict_json("tiny", {"a": 1}, version="2.0")
    assert "params" not in fake.calls[0] and fake.calls[0]["json"] == {"a": 1}


def test_a_refused_token_is_read_again_from_the_key_file_once(fake, client):
    """TorchServe 0.12 says 400 InvalidKeyException (not 401) for a wrong or expired token."""
    refused = {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."}
    fake.answers = [response(400, refused), response(200, {"models": []})]
    assert client.list_models().status == 200  # reads the key file: token "man"
    write_keys(client.key_file, management="renewed")
    fake.answers = [response(400, refused), response(200, {"models": []})]
    assert client.list_models().status == 200
    assert [c["headers"]["Authorization"] for c in fake.calls] == ["Bearer man", "Bearer man", "Bearer man", "Bearer renewed"]
    fake.answers = [response(400, refused), response(400, refused), response(200, {})]
    assert client.list_models().body == refused  # once only: TorchServe's answer is returned as it is
    assert len(fake.calls) == 6


def test_an_expired_token_is_renewed_with_the_api_key(fake, client, monkeypatch):
    """When the file says the refused token has expired, the client asks for a new one (TorchServe rewrites the file)."""
    refused = {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."}
    stamp = {"expiration time": "2000-01-01T00:00:00.000000000Z"}
    client.key_file.write_text(json.dumps({"inference": {"key": "old", **stamp}, "management": {"key": "man", **stamp},
                                           "API": {"key": "api"}}))
    renewals = []

    def renew(url: str, params: dict, headers: dict, timeout: float) -> requests.Response:
        renewals.append((url, params, headers))
        write_keys(client.key_file, inference="new")
        return response(200, {})

    monkeypatch.setattr(requests, "post", renew)
    fake.answers = [response(400, refused), response(200, {"predictions": []})]
    assert client.predict_json("tiny", {}).status == 200
    assert renewals == [(MANAGEMENT + "/token", {"type": "inference"}, {"Authorization": "Bearer api"})]
    assert [c["headers"]["Authorization"] for c in fake.calls] == ["Bearer old", "Bearer new"]


def test_other_400s_are_not_retried(fake, client):
    fake.answers = [response(400, {"code": 400, "type": "BadInput", "message": "empty"})]
    assert client.predict_bytes("tiny", b"", "image/png").status == 400
    assert len(fake.calls) == 1


def test_models_follows_every_page(fake, client):
    fake.answers = [response(200, {"nextPageToken": "1", "models": [{"modelName": "a"}]}),
                    response(200, {"nextPageToken": "2", "models": [{"modelName": "b"}]}),
                    response(200, {"models": []})]
    assert client.models() == ["a", "b"]
    assert [c.get("params") for c in fake.calls] == [{}, {"next_page_token": "1"}, {"next_page_token": "2"}]


def test_from_config_reads_addresses_and_auth(tmp_path, fake):
    config = tmp_path / "config.properties"
    config.write_text("inference_address=http://0.0.0.0:7443\nmanagement_address=http://127.0.0.1:7444\n")
    client = TorchServeClient.from_config(config, tmp_path / "key_file.json")
    assert (client.inference_url, client.management_url, client.key_file) == (
        "http://127.0.0.1:7443", "http://127.0.0.1:7444", tmp_path / "key_file.json")
    config.write_text("disable_token_authorization=true\n")
    open_client = TorchServeClient.from_config(config, tmp_path / "key_file.json")
    assert (open_client.inference_url, open_client.key_file) == ("http://127.0.0.1:8080", None)
    open_client.ping()  # no key file needed, no token sent
    assert "Authorization" not in fake.calls[0]["headers"]


@pytest.mark.parametrize("metadata", [{"identity": "sha256:1"}, json.dumps({"identity": "sha256:1"})])
def test_manifest_from_a_status_reply(metadata):
    assert manifest_of(Reply(200, [{"modelName": "tiny", "customizedMetadata": metadata}], {})) == {"identity": "sha256:1"}


def test_manifest_missing_is_an_error():
    with pytest.raises(NoManifest, match="no customizedMetadata"):
        manifest_of(Reply(200, [{"modelName": "tiny"}], {}))


# -- retries: predictions only, on a dropped connection, 503 and 507, inside the budget ------------------
@pytest.fixture
def waits(client, monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(client, "_sleep", slept.append)
    return slept


def dropped() -> requests.ConnectionError:
    return requests.ConnectionError("connection reset by peer")


def test_a_prediction_is_sent_again_after_507_503_and_a_dropped_connection(client, fake, waits):
    fake.answers += [response(507, {"message": "Worker died."}), dropped(), response(503, {"message": "busy"}),
                      response(500, {"code": 500, "type": "InternalServerException", "message": "Worker died."}),
                      response(200, {"ok": 1})]
    reply = client.predict_bytes("tiny", b"x", "image/png")
    assert (reply.status, reply.body) == (200, {"ok": 1}) and len(fake.calls) == 5 and client.retries == 4
    assert len(waits) == 4 and all(0 <= wait <= client.retry.max_delay for wait in waits)
    assert {call["data"] for call in fake.calls} == {b"x"}  # the same request each time


def test_retry_after_is_honoured(client, fake, waits):
    busy = response(503, {"message": "busy"})
    busy.headers["Retry-After"] = "2"
    fake.answers += [busy, response(200, {})]
    assert client.predict_json("tiny", {}).status == 200 and waits[0] >= 2


def test_the_last_answer_is_returned_when_the_attempts_run_out(client, fake, waits):
    fake.answers += [response(503, {"message": "busy"})] * 10
    reply = client.predict_json("tiny", {})
    assert reply.status == 503 and len(fake.calls) == client.retry.attempts


def test_a_connection_that_stays_down_raises_after_the_attempts(client, fake, waits):
    fake.answers += [dropped()] * 10
    with pytest.raises(requests.ConnectionError):
        client.predict_json("tiny", {})
    assert len(fake.calls) == client.retry.attempts


@pytest.mark.parametrize("status", [400, 404, 413, 500])
def test_answers_that_another_try_cannot_change_are_returned_at_once(client, fake, waits, status):
    fake.answers += [response(status, {"message": "no"})]
    assert client.predict_json("tiny", {}).status == status and len(fake.calls) == 1 and waits == []


def test_management_calls_are_never_sent_again(client, fake, waits):
    fake.answers += [response(503, {"message": "busy"}), dropped()]
    assert client.scale("tiny", 2).status == 503
    with pytest.raises(requests.ConnectionError):
        client.register("tiny.mar")
    assert len(fake.calls) == 2 and waits == []


def test_no_retry_sends_once(tmp_path, fake):
    from markit.client.retry import NO_RETRY

    once = TorchServeClient(INFERENCE, MANAGEMENT, write_keys(tmp_path / "k.json"), retry=NO_RETRY)
    fake.answers += [response(507, {"message": "Worker died."})]
    assert once.predict_json("tiny", {}).status == 507 and len(fake.calls) == 1
