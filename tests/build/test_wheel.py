"""The wheel is one package that works outside the checkout: installed non-editable into a fresh venv,
it builds an archive (finding its schema and run-time package as package data) and runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from helpers import REPO, png_bytes, reference_answer, write_tiny_spec


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, so the checkout gets no build/ or egg-info."""
    source = tmp_path_factory.mktemp("source")
    shutil.copytree(REPO / "markit", source / "markit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(source)])
    (built,) = dist.glob("markit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (not editable); its dependencies come from this .venv's
    site-packages through a path entry, which adds the directory but runs none of its .pth files,
    so the checkout's editable install stays invisible."""
    root = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)])
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    (site / "_checkout_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def run(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_wheel_holds_exactly_one_top_level_package_and_its_schema(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"markit"}
    assert "markit/schemas/manifest.schema.json" in names
    with zipfile.ZipFile(wheel) as archive:  # the private servers of tests, the demo and benchmarks stay in the checkout
        harness = [name for name in names if name.endswith(".py") and b"class TorchServeProcess" in archive.read(name)]
    assert harness == []
    assert "markit/engines/torchserve/entry.py" in names


def test_an_installed_wheel_builds_and_runs_an_archive_outside_the_checkout(venv, tmp_path):
    where = run([str(venv), "-c", "import markit; print(markit.__file__)"], cwd=tmp_path)
    assert Path(where).resolve().is_relative_to(venv.parents[1].resolve()), where  # the wheel's copy, not the checkout's
    spec = write_tiny_spec(tmp_path / "spec")
    run([str(venv), "-m", "markit.builder", str(spec), "--output", str(tmp_path / "store")], cwd=tmp_path)
    mar = tmp_path / "store" / "tiny.mar"
    assert "runtime/engines/torchserve/entry.py" in zipfile.ZipFile(mar).namelist()
    (tmp_path / "red.png").write_bytes(png_bytes((220, 20, 30)))
    lines = run([str(venv), "-m", "markit.offline", str(mar), str(tmp_path / "red.png")], cwd=tmp_path).splitlines()
    answer = json.loads(lines[0])
    assert answer["status"] == 200
    predictions = answer["response"]["predictions"]
    expected = reference_answer()["predictions"]
    assert [p["label"] for p in predictions] == [p["label"] for p in expected]
    assert all(abs(p["probability"] - e["probability"]) < 1e-4 for p, e in zip(predictions, expected, strict=True))
