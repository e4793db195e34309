"""One exception story: every error the tooling raises on purpose is a MarkitError, and every command ends a
user's mistake with one line and its exit code, never a traceback (run as a user runs them: python -m)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import markit
from markit.core.errors import HandlerError
from markit.errors import EXIT_FAILED, EXIT_USAGE, MarkitError

from helpers import REPO


def tooling_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(markit.__path__, "markit.") if not info.name.endswith("__main__")]
    harness = ["harness." + info.name for info in pkgutil.iter_modules([str(REPO / "harness")])]
    benchmarks = ["benchmarks." + info.name for info in pkgutil.iter_modules([str(REPO / "benchmarks")]) if info.name != "__main__"]
    return [*names, *harness, *benchmarks]


def travels(name: str) -> bool:
    """A module an archive carries (markit.builder.staging.RUNTIME_PARTS), whose errors map to HTTP statuses."""
    return name.startswith(RUN_TIME) and not name.endswith(".build")


RUN_TIME = ("markit.core.", "markit.protocols.", "markit.tasks.", "markit.engines.torchserve.")


def test_every_error_class_has_one_of_the_two_roots():
    wild = []
    for name in tooling_modules():
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == name:
                root = HandlerError if travels(name) else MarkitError
                if not issubclass(cls, root):
                    wild.append(f"{name}.{cls.__name__}")
    assert not wild, f"errors outside markit.errors.MarkitError / markit.core.errors.HandlerError: {wild}"


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)


def not_an_archive(tmp_path: Path) -> str:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "broken.mar").write_bytes(b"not a zip")
    return str(tmp_path / "store")


MISTAKES = [
    # (id, command builder, exit code, what the one line says)
    ("build: no spec file", lambda t: ["markit.builder", str(t / "nope.yaml")], EXIT_USAGE, "build failed: spec file"),
    ("build: spec typo", lambda t: ["markit.builder", write(t / "s.yaml", "nmae: x\n")], EXIT_USAGE, "build failed: "),
    ("predict: no input", lambda t: ["markit.offline", str(t / "a.mar"), str(t / "nope.png")], EXIT_USAGE, "predict: "),
    ("predict: not an archive", lambda t: ["markit.offline", write(t / "a.mar", "x"), write(t / "in.json", "{}")],
     EXIT_USAGE, "predict: "),
    ("tsctl: no key file", lambda t: ["markit.client", "--key-file", str(t / "keys.json"), "list"], EXIT_USAGE,
     "tsctl: "),
    ("catalog: no key file", lambda t: ["markit.client.catalog", "--key-file", str(t / "keys.json"), "area=Seattle"], EXIT_USAGE,
     "catalog: "),
    ("health: no config", lambda t: ["markit.client.health", "--config", str(t / "nope.properties")], EXIT_FAILED, "unhealthy: "),
    ("capacity: broken archive", lambda t: ["markit.ops.capacity", not_an_archive(t)], EXIT_USAGE, "capacity: broken.mar"),
    ("markit capacity: no archive", lambda t: ["markit", "capacity", str(t / "nope.mar"), "--p99", "50"], EXIT_USAGE,
     "markit capacity: "),
    ("kserve_layout: no store", lambda t: ["markit.ops.torchserve_on_kserve", str(t / "nope"), str(t / "out")], EXIT_USAGE,
     "kserve_layout: model store"),
]


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("argv", "code", "line"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_users_mistake_is_one_line_and_an_exit_code(tmp_path, argv, code, line):
    result = run(tmp_path, *argv(tmp_path))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert line in result.stderr, result.stderr
