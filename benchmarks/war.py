"""The "read a number" pipeline as a TorchServe 0.12 workflow archive (``.war``), and registering it.

The workflow's spec (``workflow_spec``) names the two step archives with the serving settings each ships
(workers, batch size, batch delay: a workflow registers its models with the spec's settings, which override
an archive's ``model-config.yaml`` for batching) and the DAG of ``benchmarks/war_glue.py``, whose function
nodes are the archive's handler. ``torch-workflow-archiver`` (PyPI, 0.2.15: a zip writer of the standard
library only) runs from a venv of its own (``.bench/workflow-venv``, created once like the stock venv), never
from the project's.

A server finds the ``.war`` in its ``workflow_store`` (``bench_server(..., overrides={"workflow_store": ...})``)
and the step archives by file name in its model store, where ``bench_server`` has unpacked them
(``served/NAME.mar/``, a directory TorchServe serves under the archive's name). TorchServe 0.12 registers
workflows through the management API only (``POST /workflows?url=NAME.war``, the management token); the model
API must be on (``bench_server`` turns it on). Releases after 0.12.0 refuse every workflow registration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from benchmarks.servers import REPO, BenchServer
from harness.torchserve import ServerError
from markit.errors import MarkitError

__all__ = ["ARCHIVER", "DAG", "WORKFLOW", "WORKFLOW_VENV", "WorkflowError", "build_war", "ensure_archiver_venv", "register_workflow",
           "workflow_spec"]

WORKFLOW = "read_number"
WORKFLOW_VENV = REPO / ".bench" / "workflow-venv"
ARCHIVER = "torch-workflow-archiver==0.2.15"
GLUE = Path(__file__).resolve().parent / "war_glue.py"
HANDLER = "read_number_glue.py"  # the glue's name inside the .war (and so its module name in the workers)
# node -> the nodes it feeds; digit_boxes and digits are the step archives, the others war_glue's functions
DAG: dict[str, list[str]] = {"page": ["digit_boxes", "crop"], "digit_boxes": ["crop", "read"], "crop": ["digits"],
                             "digits": ["read"]}
STEPS = ("digit_boxes", "digits")


class WorkflowError(MarkitError):
    """The archiver's venv could not be made, or the archiver failed."""


def workflow_spec(settings: Mapping[str, Mapping[str, int]], timeout_ms: int | None = None) -> str:
    """The workflow's YAML: each step archive (``settings``: its name -> its ``read_mar(...).settings``) with the
    workers and batching it ships, and the DAG; with ``timeout_ms``, every node's ``timeout-ms`` (else
    TorchServe's 10000). Written by hand: the archiver copies it, TorchServe's SnakeYAML reads it. A global key
    comes first: TorchServe reads the ``models`` section in order, and a model takes the globals read before it."""
    lines = ["models:", *([f"  timeout-ms: {timeout_ms}"] if timeout_ms is not None else [])]
    for step in STEPS:
        shipped = settings[step]
        lines += [f"  {step}:", f"    url: {step}.mar", f"    min-workers: {shipped['minWorkers']}",
                  f"    max-workers: {shipped['maxWorkers']}", f"    batch-size: {shipped['batchSize']}",
                  f"    max-batch-delay: {shipped['maxBatchDelay']}"]
    lines.append("dag:")
    lines += [f"  {node}: [{', '.join(children)}]" for node, children in DAG.items()]
    return "\n".join(lines) + "\n"


def ensure_archiver_venv(venv: Path = WORKFLOW_VENV, progress: Callable[[str], None] = print) -> Path:
    """The archiver's venv, created and installed the first time (``--no-deps``: it needs nothing else)."""
    stamp = venv / ".bench-packages"
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == ARCHIVER + "\n":
        return venv
    progress(f"creating {venv} with {ARCHIVER} (once) ...")
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    if not python.exists():
        _run([base, "-m", "venv", str(venv)], "creating the workflow archiver's venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", ARCHIVER],
         "installing torch-workflow-archiver")
    stamp.write_text(ARCHIVER + "\n", encoding="utf-8")
    return venv


def build_war(settings: Mapping[str, Mapping[str, int]], out_dir: Path, venv: Path, timeout_ms: int | None = None) -> Path:
    """``out_dir/read_number.war``: the spec (``workflow_spec``) and the glue, written by the archiver of ``venv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-war-") as tmp:
        spec, handler = Path(tmp) / f"{WORKFLOW}.yaml", Path(tmp) / HANDLER
        spec.write_text(workflow_spec(settings, timeout_ms), encoding="utf-8")
        shutil.copyfile(GLUE, handler)
        _run([str(venv / "bin" / "torch-workflow-archiver"), "--workflow-name", WORKFLOW, "--spec-file", str(spec),
              "--handler", str(handler), "--export-path", str(out_dir), "--force"], "archiving the workflow")
    return out_dir / f"{WORKFLOW}.war"


def register_workflow(server: BenchServer, war_name: str, timeout: float = 600.0) -> None:
    """``POST /workflows?url=war_name`` with the management token; returns once every node has its workers
    (TorchServe registers a workflow's models synchronously), ServerError with its answer otherwise."""
    process = server.process
    reply = requests.post(f"{process.url('management')}/workflows", params={"url": war_name},
                          headers={"Authorization": f"Bearer {process.client.token('management')}"}, timeout=timeout)
    if not reply.ok:
        raise ServerError(f"registering {war_name}: HTTP {reply.status_code}: {reply.text.strip()}\n{process.log_tail()}")


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WorkflowError(f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done
