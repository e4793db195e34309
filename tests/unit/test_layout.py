"""The package's rooms: what an application imports stays light, and every module says what it holds."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from helpers import REPO

LIGHT = ["markit", "markit.errors", "markit.client", "markit.client.cli", "markit.client.health", "markit.client.catalog",
         "markit.ops", "markit.ops.launch", "markit.ops.capacity", "markit.ops.torchserve_on_kserve", "markit.archive.mar_file",
         "markit.ops.settings", "markit.archive.unpack", "markit.archive.verify", "markit.cli", "markit.ops.fit.command",
         "markit.ops.load.openloop", "markit.ops.load.wrk"]
# the run-time modules the tooling checks archives with: the standard library only
CHECKS = {"markit.core", "markit.core.errors", "markit.core.limits", "markit.core.manifest", "markit.engines", "markit.engines.torchserve",
          "markit.engines.torchserve.entry"}
HEAVY = ("markit.builder", "markit.core", "markit.protocols", "markit.tasks", "markit.engines", "markit.offline")


@pytest.mark.parametrize("module", LIGHT)
def test_the_client_and_ops_import_neither_torch_nor_the_builder_nor_the_runtime(module):
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    heavy = [name for name in loaded if name.split(".")[0] in ("torch", "numpy", "PIL") or
             (name.startswith(HEAVY) and name not in CHECKS)]
    assert heavy == []


def test_every_module_says_what_it_holds():
    roots = ("markit", "benchmarks", "demo", "harness")
    silent = [str(path.relative_to(REPO)) for root in roots for path in sorted((REPO / root).rglob("*.py"))
              if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert silent == []
