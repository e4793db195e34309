from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from markit.builder import build_archive

from helpers import write_tiny_spec


@pytest.fixture(scope="session")
def tiny_mar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built, verified tiny archive (eager source file + .pth weights converted to safetensors)."""
    root = tmp_path_factory.mktemp("tiny")
    spec = write_tiny_spec(root / "spec")
    return build_archive(spec, root / "store", progress=lambda _: None).path
