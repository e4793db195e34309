"""``python -m markit.client``: arguments -> client calls, config and key-file reading, output and exit codes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import free_port
from markit.client import cli
from markit.client.cli import build_parser, connect, main
from markit.client.client import Reply


class Recorder:
    """A client that records the one call made and answers it with ``reply``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        def call(*args: Any, **kwargs: Any) -> Reply:
            self.calls.append((name, args, kwargs))
            return self.reply
        return call


@pytest.fixture
def served(monkeypatch) -> Recorder:
    recorder = Recorder(Reply(200, {"status": "fine"}, {}))
    monkeypatch.setattr(cli, "connect", lambda args: recorder)
    return recorder


def write_keys(directory: Path) -> Path:
    path = directory / "key_file.json"
    path.write_text(json.dumps({"inference": {"key": "i"}, "management": {"key": "m"}, "API": {"key": "a"}}))
    return path


@pytest.mark.parametrize(("argv", "call"), [
    (["list"], ("list_models", (None, None), {})),
    (["list", "--limit", "1", "--page-token", "3"], ("list_models", (1, "3"), {})),
    (["status", "tiny"], ("status", ("tiny", None), {})),
    (["status", "tiny", "--version", "all"], ("status", ("tiny", "all"), {})),
    (["register", "tiny-2.0.mar"], ("register", ("tiny-2.0.mar",), {"model_name": None, "initial_workers": None, "batch_size": None,
                                                                    "max_batch_delay": None, "synchronous": True})),
    (["register", "t.mar", "--name", "x", "--workers", "2", "--batch-size", "4", "--max-batch-delay", "50", "--no-wait"],
     ("register", ("t.mar",), {"model_name": "x", "initial_workers": 2, "batch_size": 4, "max_batch_delay": 50, "synchronous": False})),
    (["unregister", "tiny"], ("unregister", ("tiny", None), {})),
    (["unregister", "tiny", "--version", "1.0"], ("unregister", ("tiny", "1.0"), {})),
    (["scale", "tiny", "--min", "2"], ("scale", ("tiny", 2, None, None), {"synchronous": True})),
    (["scale", "tiny", "--min", "1", "--max", "3", "--version", "2.0", "--no-wait"],
     ("scale", ("tiny", 1, 3, "2.0"), {"synchronous": False})),
    (["set-default", "tiny", "2.0"], ("set_default", ("tiny", "2.0"), {})),
    (["predict", "tiny", "--json", '{"text": "hi"}', "--version", "2.0"], ("predict_json", ("tiny", {"text": "hi"}, "2.0"), {})),
])
def test_commands_call_the_client(served, capsys, argv, call):
    assert main(argv) == 0
    assert served.calls == [call]
    assert json.loads(capsys.readouterr().out) == {"status": "fine"}


@pytest.mark.parametrize(("name", "content_type"), [("cat.png", "image/png"), ("cat.JPG", "image/jpeg"),
                                                      ("q.json", "application/json"), ("notes.txt", "text/plain"),
                                                      ("blob", "application/octet-stream")])
def test_predict_sends_the_file_with_a_content_type_from_its_name(served, tmp_path, name, content_type):
    (tmp_path / name).write_bytes(b"\x89data")
    assert main(["predict", "tiny", str(tmp_path / name)]) == 0
    assert served.calls == [("predict_bytes", ("tiny", b"\x89data", content_type, None), {})]


def test_predict_reads_stdin_and_json_files(served, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"raw bytes")))
    assert main(["predict", "tiny", "-", "--content-type", "text/plain", "--version", "2.0"]) == 0
    (tmp_path / "in.json").write_text('[1, 2]')
    assert main(["predict", "tiny", "--json-file", str(tmp_path / "in.json")]) == 0
    assert served.calls == [("predict_bytes", ("tiny", b"raw bytes", "text/plain", "2.0"), {}),
                            ("predict_json", ("tiny", [1, 2], None), {})]


def test_describe_prints_the_manifest_of_the_asked_version(served, capsys):
    served.reply = Reply(200, [{"modelVersion": "2.0", "customizedMetadata": json.dumps({"identity": "sha256:2"})}], {})
    assert main(["describe", "tiny", "--version", "2.0"]) == 0
    assert served.calls == [("status", ("tiny", "2.0"), {"customized": True})]
    assert json.loads(capsys.readouterr().out) == {"identity": "sha256:2"}


def test_describe_of_an_archive_without_manifest_is_an_error(served, capsys):
    served.reply = Reply(200, [{"modelVersion": "1.0"}], {})
    assert main(["describe", "other"]) == 1
    assert "other: TorchServe's answer has no customizedMetadata" in capsys.readouterr().err


@pytest.mark.parametrize(("status", "body", "line"), [
    (404, {"code": 404, "type": "ModelNotFoundException", "message": "Model not found: nope"},
     "HTTP 404 ModelNotFoundException: Model not found: nope"),
    (400, {"code": 400, "message": "max_worker cannot be less than min_worker."}, "HTTP 400: max_worker cannot be less than min_worker."),
    (500, "Internal error\nsecond line", "HTTP 500: Internal error\nsecond line"),
    (503, {"error": "no message key"}, 'HTTP 503: {"error": "no message key"}'),
    (503, {"code": 503, "type": "ServiceUnavailableException", "message": "Model \"tiny\" has no worker to serve inference request. "
           "Please use scale workers API to add workers."},
     'HTTP 503 ServiceUnavailableException: Model "tiny" has no worker to serve inference request. Please use scale workers API '
     "to add workers. (TorchServe says this when the model's queue is full (job_queue_size) as well as when it has no READY "
     "worker; the client retried for up to 20 s. See 'status MODEL' for its workers; add workers in config/models.yaml or "
     "raise job_queue_size, or send fewer requests at once)"),
])
def test_an_http_error_prints_torchserve_message_and_exits_1(served, capsys, status, body, line):
    served.reply = Reply(status, body, {})
    assert main(["status", "nope"]) == 1
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", line + "\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["predict", "tiny"], "predict needs exactly one input"),
    (["predict", "tiny", "a.png", "--json", "{}"], "predict needs exactly one input"),
    (["predict", "tiny", "--json", "{nope"], "--json is not valid JSON"),
    (["predict", "tiny", "/no/such/file.png"], "cannot read /no/such/file.png: No such file or directory"),
    (["describe", "tiny", "--version", "all"], "describe needs one version"),
])
def test_usage_errors_exit_2_with_one_line(served, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tsctl: ") and message in err and err.count("\n") == 1
    assert served.calls == []


@pytest.mark.parametrize("argv", [[], ["scale", "tiny"], ["set-default", "tiny"], ["list", "--limit", "x"], ["frobnicate"]])
def test_argparse_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


@pytest.mark.parametrize("argv", [["--config", "a.properties", "--key-file", "k.json", "list"],
                                  ["list", "--config", "a.properties", "--key-file", "k.json"],
                                  ["--config", "a.properties", "list", "--key-file", "k.json"]])
def test_connection_options_go_before_or_after_the_command(argv):
    args = build_parser().parse_args(argv)
    assert (args.command, args.config, args.key_file) == ("list", Path("a.properties"), Path("k.json"))


# -- connect: config file, URL overrides, key file ------------------------------------------
def connect_with(*argv: str):
    return connect(build_parser().parse_args([*argv, "list"]))


def test_the_config_in_the_working_directory_is_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_keys(tmp_path)
    assert (connect_with().inference_url, connect_with().management_url) == ("http://127.0.0.1:8080", "http://127.0.0.1:8081")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.properties").write_text("inference_address=http://0.0.0.0:9080\n"
                                                           "management_address=http://0.0.0.0:9081\n")
    client = connect_with()
    assert (client.inference_url, client.management_url, client.key_file) == (
        "http://127.0.0.1:9080", "http://127.0.0.1:9081", Path("key_file.json"))
    overridden = connect_with("--management", "http://10.0.0.5:7071")
    assert (overridden.inference_url, overridden.management_url) == ("http://127.0.0.1:9080", "http://10.0.0.5:7071")


def test_an_explicit_config_and_key_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/ here
    config = tmp_path / "elsewhere.properties"
    config.write_text("inference_address=https://127.0.0.1:8443\n")
    (tmp_path / "work").mkdir()
    keys = write_keys(tmp_path / "work")
    client = connect_with("--config", str(config), "--key-file", str(keys), "--timeout", "5")
    assert (client.inference_url, client.key_file, client.timeout) == ("https://127.0.0.1:8443", keys, 5.0)


def test_a_missing_config_is_a_usage_error(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.properties"), "list"]) == 2
    assert capsys.readouterr().err == f"tsctl: config file not found: {tmp_path / 'nope.properties'}\n"


@pytest.mark.parametrize(("content", "message"), [
    (None, "no key file; TorchServe writes key_file.json into its working directory"),
    ("{broken", "unreadable key file"),
    ('{"inference": {"key": "i"}}', "no 'management' key in the key file"),
])
def test_key_file_problems_name_the_file(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "key_file.json").write_text(content)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tsctl: {tmp_path / 'key_file.json'}: ") and message in err


def test_no_key_file_needed_when_the_config_turns_auth_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "open.properties"
    config.write_text("disable_token_authorization=true\n")
    assert connect_with("--config", str(config)).key_file is None


def test_no_server_is_a_one_line_connection_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_keys(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["--inference", url, "--management", url, "status", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tsctl: no answer from {url}/models/tiny (ConnectionError)") and err.count("\n") == 1
