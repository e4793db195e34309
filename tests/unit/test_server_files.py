"""Reading what a TorchServe server leaves for its local clients: its config and its key file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from markit.client.properties import local_url, read_properties, server_urls
from markit.client.tokens import KeyFile, TokenError

from helpers import REPO


def test_project_config_addresses_are_loopback():
    assert server_urls(REPO / "config" / "config.properties") == {
        "inference": "http://127.0.0.1:8080", "management": "http://127.0.0.1:8081", "metrics": "http://127.0.0.1:8082"}


def test_properties_unescape_and_skip_comments(tmp_path):
    path = tmp_path / "c.properties"
    path.write_text("# inference_address=http://nope:1\n! also a comment\nallowed_urls=^file://.*\\\\.mar$\n"
                    "inference_address = http://0.0.0.0:9080\ninference_address=http://0.0.0.0:9081\n")
    values = read_properties(path)
    assert values["allowed_urls"] == "^file://.*\\.mar$"
    assert server_urls(path)["inference"] == "http://127.0.0.1:9081"  # the last one wins, wildcard -> loopback


@pytest.mark.parametrize(("address", "url"), [
    ("http://0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("http://[::]:8080", "http://127.0.0.1:8080"),
    ("https://model.example:443/", "https://model.example:443"),
    ("http://127.0.0.1:1", "http://127.0.0.1:1"),
])
def test_local_url(address, url):
    assert local_url(address) == url


def key_file(tmp_path, expires: datetime):
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # TorchServe writes nanoseconds
    data = {"inference": {"key": "inf", "expiration time": stamp}, "management": {"key": "man", "expiration time": stamp},
            "API": {"key": "api"}}
    (tmp_path / "key_file.json").write_text(json.dumps(data))
    return KeyFile(tmp_path / "key_file.json")


def test_expiry_is_read_from_the_file(tmp_path):
    now = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
    keys = key_file(tmp_path, now + timedelta(minutes=10))
    assert keys.token("inference") == "inf" and keys.token("management") == "man"
    assert not keys.expired("inference", now)
    assert keys.expired("inference", now + timedelta(minutes=9, seconds=45))  # renewed a little early
    assert keys.expired("management", now + timedelta(hours=1))


def test_key_file_errors_name_the_file(tmp_path):
    with pytest.raises(TokenError, match=r"key_file\.json: no key file; TorchServe writes"):
        KeyFile(tmp_path / "key_file.json").token("inference")
    (tmp_path / "key_file.json").write_text("{not json")
    with pytest.raises(TokenError, match="unreadable key file"):
        KeyFile(tmp_path / "key_file.json").token("inference")
    with pytest.raises(ValueError, match="api must be one of"):
        key_file(tmp_path, datetime.now(timezone.utc)).token("API")


def test_probe_names_a_missing_config(tmp_path, capsys):
    from markit.client.health import main

    assert main(["--config", str(tmp_path / "nope.properties")]) == 1
    assert f"unhealthy: config {tmp_path / 'nope.properties'} not found" in capsys.readouterr().err
