"""Deploy-time serving settings (markit.ops.settings): config/models.yaml validated against the store and
applied as a model_snapshot in a copy of the config, leaving the archives as built."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from markit.errors import UsageError
from markit.ops.settings import ServingSettings, main, run_config

from helpers import stand_in_mar

CONFIG = "inference_address=http://127.0.0.1:8080\nload_models=all\nmodel_snapshot={\"stale\": true}\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    stand_in_mar(root / "digits.mar", name="digits")
    stand_in_mar(root / "weather.mar", name="weather", batchSize=16, maxBatchDelay=10)
    (tmp_path / "config.properties").write_text(CONFIG)
    return root


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def snapshot(text: str) -> dict:
    [line] = [line for line in text.splitlines() if line.startswith("model_snapshot=")]
    return json.loads(line.removeprefix("model_snapshot="))


def test_the_settings_change_only_what_they_name_and_every_archive_is_in_the_snapshot(store, tmp_path):
    path = write(tmp_path, {"models": {"digits": {"workers": 2, "batch_size": 8, "max_batch_delay": 5, "response_timeout": 30}}})
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.iterdir()}
    text, _ = run_config(tmp_path / "config.properties", store, ServingSettings.load(path), path)
    models = snapshot(text)["models"]
    assert models["digits"]["1.0"] == {"defaultVersion": True, "marName": "digits.mar", "runtimeType": "python", "minWorkers": 2,
                                       "maxWorkers": 2, "batchSize": 8, "maxBatchDelay": 5, "responseTimeout": 30}
    weather = models["weather"]["1.0"]
    assert (weather["batchSize"], weather["maxBatchDelay"], weather["maxWorkers"]) == (16, 10, 1)  # as built
    assert "inference_address=http://127.0.0.1:8080" in text and '"stale"' not in text  # the config kept, one snapshot
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.iterdir()}


@pytest.mark.parametrize(("data", "message"), [
    ({"models": {"digit": {"workers": 2}}}, "models.digit: no archive in the store serves it (models there: digits, weather)"),
    ({"models": {"digits": {"threads": 2}}}, "models.digits.threads: unknown setting; the settings are workers, batch_size"),
    ({"models": {"digits": {"workers": 0}}}, "models.digits.workers: must be a whole number from 1 to 64, got 0"),
    ({"models": {"digits": {"max_batch_delay": True}}}, "models.digits.max_batch_delay: must be a whole number from 1 to 60000"),
    ({"models": {"digits": {}}}, "models.digits: expected a mapping of settings"),
    ({"digits": {"workers": 2}}, "expected one key, models"),
    ("models: [", "cannot be read"),
])
def test_a_wrong_setting_is_named(store, tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(UsageError) as caught:
        run_config(tmp_path / "config.properties", store, ServingSettings.load(path), path)
    assert message in str(caught.value)


def test_the_command_writes_the_config_or_exits_2(store, tmp_path, capsys):
    good = write(tmp_path, {"models": {"weather": {"batch_size": 4}}})
    out = tmp_path / "run.properties"
    assert main([str(store), "--config", str(tmp_path / "config.properties"), "--models", str(good), "--out", str(out)]) == 0
    assert snapshot(out.read_text())["models"]["weather"]["1.0"]["batchSize"] == 4
    assert "weather: workers 1, batch 4, delay 10 ms, timeout 120 s" in capsys.readouterr().out
    bad = write(tmp_path, {"models": {"weather": {"batch_size": 0}}})
    assert main([str(store), "--config", str(tmp_path / "config.properties"), "--models", str(bad), "--out", str(out)]) == 2
    assert "settings: " in capsys.readouterr().err
