"""Laying out an archive's files in a directory, and the manifest's ``spec`` section that describes them
(typed sections of ``markit.core.manifest_types`` and of the task's ``manifest.py``; the model, budgets and
metadata as dicts, settled by conversion and the spec; ``markit.builder.manifest`` makes the task's spec type of it).

Everything in the archive is named by a path relative to its root, never by a path on the build
machine, so the same inputs give the same manifest (and identity) anywhere.

    archive_entry_<hash>.py   TorchServe's handler (markit/engines/torchserve/entry.py, renamed): loads runtime/ by
                              path; the name carries a hash of the run-time code because TorchServe
                              imports it by module name, and PYTHONPATH comes before the archive
    runtime/                  the archive's own copy of markit's run-time packages (``RUNTIME_PARTS``:
                              core, protocols, tasks without their build.py, engines/torchserve)
    model/                    model source + weights.safetensors, and/or model.pt (TorchScript),
                              model.pt2 (torch.export), model.aoti.pt2 (AOTInductor) or model.onnx
                              (ONNX Runtime), the last two with a fallback
    artifacts/                data files the model's class receives (``artifacts=``)
    tokenizer/tokenizer.json  text models: the tokenizer the model was trained with
    index_to_name.json        labels (classification tasks)
    golden/                   golden example inputs
    model-config.yaml         TorchServe's per-model settings (workers, batching, timeout)
    manifest.json             written last, by markit.builder.manifest
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.manifest_types import Golden
from ..engines.torchserve.entry import RUNTIME_PACKAGE
from ..tasks import BUILT_IN, folder
from .convert import PROGRAM_FILES
from .errors import SpecError
from .spec import ArtifactSpec, Spec
from .tasks import TASKS
from .weights import write_safetensors

__all__ = ["ENTRY_FILE", "MODEL_CONFIG_FILE", "PROGRAM_FILES", "RUNTIME_PARTS", "Staged", "copy_runtime", "runtime_package_dir", "stage"]

ENTRY_FILE = "engines/torchserve/entry.py"
ENTRY_PREFIX = "archive_entry_"
MODEL_CONFIG_FILE = "model-config.yaml"
# what of markit travels inside every archive (under runtime/): its run-time packages, not the builder's
RUNTIME_PARTS = ("__init__.py", "core", "protocols", "tasks", "engines/__init__.py", "engines/torchserve")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "build.py", "README.md")


def runtime_package_dir() -> Path:
    """The markit package whose run-time parts an archive carries (same checkout or install)."""
    path = Path(__file__).resolve().parents[1]
    if not (path / ENTRY_FILE).is_file():
        raise FileNotFoundError(f"run-time package not found at {path}")
    return path


def copy_runtime(target: Path, task: str) -> None:
    """Copy markit's ``RUNTIME_PARTS`` to ``target``, the archive's own run-time package, with the
    folder of ``task`` among its tasks when it is registered from outside this project."""
    source = runtime_package_dir()
    for part in RUNTIME_PARTS:
        (target / part).parent.mkdir(parents=True, exist_ok=True)
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, ignore=_SKIP)
        else:
            shutil.copyfile(source / part, target / part)
    if task not in BUILT_IN:
        shutil.copytree(folder(task), target / "tasks" / task, ignore=_SKIP)


@dataclass(frozen=True)
class Staged:
    """What stage() laid out: the entry module's file name and the manifest's ``spec`` section."""

    entry: str
    section: dict[str, Any]


def stage(spec: Spec, root: Path) -> Staged:
    """Write every archive file under ``root`` (an eager model stays eager here; see markit.builder.convert)."""
    copy_runtime(root / RUNTIME_PACKAGE, spec.task)
    entry = f"{ENTRY_PREFIX}{_tree_hash(root / RUNTIME_PACKAGE)[:12]}.py"
    shutil.copyfile(runtime_package_dir() / ENTRY_FILE, root / entry)
    (root / MODEL_CONFIG_FILE).write_text(yaml.safe_dump(_model_config(spec), sort_keys=True), encoding="utf-8")
    section: dict[str, Any] = {"name": spec.name, "version": spec.version, "task": spec.task}
    task = TASKS[spec.task]
    if task.has_model and not task.text:  # a text task stages its encoder with its tokenizer
        section["model"] = _stage_model(spec, root / "model")
    section.update(task.stage(spec, root, section))
    section["serving"] = spec.serving
    section["budgets"] = dict(spec.budgets)
    section["metadata"] = dict(spec.metadata)
    section["golden"] = _stage_golden(spec, root / "golden")
    return Staged(entry=entry, section=section)


def _tree_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _stage_model(spec: Spec, target: Path) -> dict[str, Any]:
    target.mkdir()
    model = spec.model
    if model.program is not None:
        name = PROGRAM_FILES[model.format]
        shutil.copyfile(model.program, target / name)
        return {"format": model.format, "file": f"model/{name}"}
    source = model.source
    if source.is_dir():
        if not (source / "__init__.py").is_file():
            raise SpecError(f"model.source: directory {source} is not a Python package (no __init__.py)")
        shutil.copytree(source, target / source.name, ignore=_SKIP)
    elif source.suffix == ".py":
        shutil.copyfile(source, target / source.name)
    else:
        raise SpecError(f"model.source: {source.name} is neither a .py file nor a package directory")
    write_safetensors(model.weights, target / "weights.safetensors")
    section = {
        "format": "eager",
        "source": f"model/{source.name}",
        "class": model.class_name,
        "factory": model.factory,
        "kwargs": dict(model.kwargs),
        "weights": "model/weights.safetensors",
    }
    if model.artifacts:
        section["artifacts"] = _stage_artifacts(model.artifacts, target.parent / "artifacts")
    return section


def _stage_artifacts(artifacts: dict[str, ArtifactSpec], target: Path) -> dict[str, Any]:
    target.mkdir()
    staged: dict[str, Any] = {}
    for name, artifact in sorted(artifacts.items()):
        if artifact.file is None:
            staged[name] = {"value": artifact.value}
        elif artifact.file.is_file():
            shutil.copyfile(artifact.file, target / artifact.file.name)
            staged[name] = {"file": f"artifacts/{artifact.file.name}"}
        else:
            raise SpecError(f"model.artifacts.{name}.file: {artifact.file} is not a file")
    names = [entry["file"] for entry in staged.values() if "file" in entry]
    if len(names) != len(set(names)):
        raise SpecError("model.artifacts: two artifact files have the same file name; rename one")
    return staged


def _stage_golden(spec: Spec, target: Path) -> tuple[Golden, ...]:
    target.mkdir()
    examples = []
    for index, example in enumerate(spec.golden):
        name = f"{index}_{example.input.name}"
        shutil.copyfile(example.input, target / name)
        examples.append(Golden(input=f"golden/{name}", expected=example.expected, tolerance=example.tolerance))
    return tuple(examples)


def _model_config(spec: Spec) -> dict[str, Any]:
    serving = spec.serving
    return {
        "minWorkers": serving.workers,
        "maxWorkers": serving.workers,
        "batchSize": serving.batch_size,
        "maxBatchDelay": serving.max_batch_delay,
        "responseTimeout": serving.response_timeout,
        "deviceType": "cpu",
    }
