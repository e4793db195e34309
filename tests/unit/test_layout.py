"""The package's rooms: what an application imports stays light, and every module says what it holds."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from helpers import REPO

LIGHT = ["markit", "markit.errors", "markit.client", "markit.client.cli", "markit.client.health", "markit.client.catalog",
         "markit.ops", "markit.ops.launch", "markit.ops.capacity", "markit.ops.kserve_layout", "markit.ops.mar_file",
         "markit.ops.settings", "markit.ops.unpack", "markit.ops.verify"]
# the run-time modules the tooling checks archives with: the standard library only
CHECKS = {"markit.runtime", "markit.runtime.errors", "markit.runtime.manifest", "markit.runtime.serve_entry"}


@pytest.mark.parametrize("module", LIGHT)
def test_the_client_and_ops_import_neither_torch_nor_the_builder_nor_the_runtime(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    heavy = [name for name in loaded if name.split(".")[0] in ("torch", "numpy", "PIL") or
             (name.startswith(("markit.builder", "markit.runtime", "markit.offline")) and name not in CHECKS)]
    assert heavy == []


def test_every_module_says_what_it_holds():
    silent = [str(path.relative_to(REPO)) for root in ("markit", "benchmarks", "demo") for path in sorted((REPO / root).rglob("*.py"))
              if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert silent == []
