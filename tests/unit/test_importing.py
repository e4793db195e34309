"""The one path importer: a file or a package under a given name, all or nothing."""

from __future__ import annotations

import sys

import pytest

from markit.core.importing import import_path


def test_a_file_and_a_package_import_under_the_given_name(tmp_path):
    (tmp_path / "single.py").write_text("VALUE = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .inner import VALUE\n")
    (tmp_path / "pkg" / "inner.py").write_text("VALUE = 2\n")
    try:
        assert import_path(tmp_path / "single.py", "_test_single").VALUE == 1
        assert import_path(tmp_path / "pkg", "_test_pkg").VALUE == 2
        assert "_test_pkg.inner" in sys.modules
    finally:
        for name in ("_test_single", "_test_pkg", "_test_pkg.inner"):
            sys.modules.pop(name, None)


def test_code_that_raises_leaves_nothing_behind(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from . import inner\nraise RuntimeError('half imported')\n")
    (tmp_path / "pkg" / "inner.py").write_text("VALUE = 2\n")
    with pytest.raises(RuntimeError, match="half imported"):
        import_path(tmp_path / "pkg", "_test_broken")
    assert not [name for name in sys.modules if name.startswith("_test_broken")]


def test_no_code_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Python file or a package directory"):
        import_path(tmp_path / "missing.py", "_test_missing")
