"""Every test tier runs in ./scripts/test.sh: pytest's default norecursedirs skips a folder named "build", so a
tier is collected only when pyproject's testpaths names it."""

from __future__ import annotations

import tomllib

from helpers import REPO


def test_every_folder_of_tests_is_a_named_testpath():
    testpaths = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]["testpaths"]
    tiers = sorted(f"tests/{folder.name}" for folder in (REPO / "tests").iterdir() if folder.is_dir() and any(folder.glob("test_*.py")))
    assert sorted(testpaths) == tiers == ["tests/build", "tests/integration", "tests/unit"]
