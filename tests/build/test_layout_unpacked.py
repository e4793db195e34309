"""What ./scripts/kserve_layout.sh lays out for KServe's TorchServe runtime, from real archives: each checked and
unpacked into model-store/NAME.mar/ (the pod's TorchServe never parses a zip), and a snapshot with each archive's
settings. tests/integration/test_kserve_layout.py starts a real TorchServe from such a layout."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from benchmarks.tampering import HIDDEN, marker_for
from markit.archive.mar_file import SERVING_SETTINGS, MarFileError
from markit.archive.zip_layout import ZipLayoutError
from markit.builder import build_archive
from markit.client.properties import read_properties
from markit.ops.torchserve_on_kserve import LayoutError, lay_out

from helpers import quiet, read_properties_text, write_tiny_spec

OTHER = {"workers": 2, "batch_size": 8, "max_batch_delay": 250, "response_timeout": 30}


@pytest.fixture(scope="module")
def other_mar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny's model as 'other', built with other serving settings."""
    root = tmp_path_factory.mktemp("other")
    return build_archive(write_tiny_spec(root / "spec", serving=OTHER), root / "store", progress=quiet,
                         overrides=["name=other"]).path


@pytest.fixture
def two_archives(tiny_mar: Path, other_mar: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(tiny_mar, store)
    shutil.copy(other_mar, store)
    return store


def archive_settings(path: Path) -> tuple[str, str, dict[str, int]]:
    with zipfile.ZipFile(path) as archive:
        model = json.loads(archive.read("MAR-INF/MANIFEST.json"))["model"]
        config = yaml.safe_load(archive.read(model["configFile"]))
    return model["modelName"], model["modelVersion"], {key: config[key] for key in SERVING_SETTINGS}


def test_layout_unpacks_each_checked_archive_and_snapshots_its_settings(two_archives, tmp_path):
    out = tmp_path / "out"
    lay_out(two_archives, out)
    assert sorted(p.name for p in (out / "model-store").iterdir() if p.is_dir()) == ["other.mar", "tiny.mar"]
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*") if p.is_file()) == ["config/config.properties"]
    for archive in two_archives.glob("*.mar"):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():  # every member, byte for byte, and nothing else
                assert (out / "model-store" / archive.name / name).read_bytes() == zipped.read(name)
            assert sum(1 for p in (out / "model-store" / archive.name).rglob("*") if p.is_file()) == len(zipped.namelist())
    config = read_properties(out / "config" / "config.properties")
    snapshot = json.loads(config["model_snapshot"])
    assert snapshot["modelCount"] == 2
    for archive in sorted(two_archives.glob("*.mar")):
        name, version, settings = archive_settings(archive)
        entry = snapshot["models"][name][version]
        assert entry["marName"] == archive.name and entry["defaultVersion"] is True  # the unpacked directory of that name
        assert {key: entry[key] for key in SERVING_SETTINGS} == settings
    assert snapshot["models"]["other"]["1.0"]["batchSize"] == OTHER["batch_size"]
    assert config["model_store"] == "/mnt/models/model-store"  # where KServe puts storageUri's model-store/


def test_layout_config_is_what_kserves_wrapper_and_torchserve_need(tiny_mar, tmp_path):
    (tmp_path / "store").mkdir()
    shutil.copy(tiny_mar, tmp_path / "store")
    lay_out(tmp_path / "store", tmp_path / "out")
    text = (tmp_path / "out" / "config" / "config.properties").read_text()
    config = read_properties_text(text)
    assert config["inference_address"] == config["management_address"]  # one listener; KServe's wrapper has 8080/8081
    hosts = {urlhost(config[f"{api}_address"]) for api in ("inference", "management", "metrics")}
    assert hosts == {"127.0.0.1"}
    assert not config["inference_address"].endswith((":8080", ":8081"))
    assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1"
    assert config["disable_token_authorization"] == "true"  # the wrapper sends no token
    assert config["enable_envvars_config"] == "false"  # TS_SERVICE_ENVELOPE must not wrap the handlers
    # older kserve_wrapper versions split every line containing '=', comments included
    assert not [line for line in text.splitlines() if line.startswith("#") and "=" in line]
    for key in ("inference_address", "management_address", "grpc_inference_port", "model_store", "model_snapshot"):
        assert key in config, f"kserve_wrapper reads {key}"


def urlhost(address: str) -> str:
    return address.split("://", 1)[1].rsplit(":", 1)[0]


def test_layout_refuses_what_it_cannot_lay_out(tiny_mar, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    with pytest.raises(LayoutError, match=re.escape("holds no .mar archive")):
        lay_out(store, tmp_path / "out")
    shutil.copy(tiny_mar, store)
    shutil.copy(tiny_mar, store / "tiny-copy.mar")
    with pytest.raises(LayoutError, match=re.escape("tiny-copy.mar and tiny.mar both serve model 'tiny'")):
        lay_out(store, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    (store / "tiny-copy.mar").unlink()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.mar").write_text("old")
    with pytest.raises(LayoutError, match="is not empty"):
        lay_out(store, tmp_path / "out")


@pytest.mark.parametrize("variant", list(HIDDEN))
def test_layout_refuses_a_hidden_entry(tiny_mar, tmp_path, variant):
    store = tmp_path / "store"
    store.mkdir()
    tampered = HIDDEN[variant].make(tiny_mar, store / "tiny.mar")
    with pytest.raises(MarFileError, match=re.escape(HIDDEN[variant].message)) as caught:
        lay_out(store, tmp_path / "out")
    assert isinstance(caught.value, ZipLayoutError)
    assert not (tmp_path / "out" / "model-store").exists() and not marker_for(tampered).exists()
