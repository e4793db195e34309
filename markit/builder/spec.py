"""The YAML model spec: parsed strictly into frozen dataclasses.

The sections every task has (name, version, task, model, serving, golden, metadata) are read here; a
task's own keys are read by its module in ``markit.builder.tasks`` into its frozen settings.

Unknown or misspelled keys, wrong types and bad values fail with a message that names the dotted
key (``preprocess.mean: expected 3 numbers for RGB, got 1``). File references are resolved and
checked here, so later build steps only see valid, existing inputs. The format is documented in
docs/spec.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from markit.core.manifest_types import FORMATS, Golden, Serving
from markit.core.section import default_of

from .errors import SpecError
from .spec_reader import PYTHON_NAME, Section, check_json, read_file
from .tasks import TASKS, Task

__all__ = [
    "ArtifactSpec",
    "GoldenSpec",
    "ModelSpec",
    "ServingSpec",
    "Spec",
    "load_spec",
    "parse_spec",
]

PROGRAM_KEYS = ("torchscript", "export")
ENCODER_FORMATS = ("torchscript", "export", "aoti", "onnx")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,31}$")
COMMON_REQUIRED = frozenset({"name", "version", "task", "model", "golden"})
COMMON_OPTIONAL = frozenset({"metadata", "serving", "budgets"})
MOST_BYTES = 1024 * 1024 * 1024  # request_bytes beyond this is no budget at all


@dataclass(frozen=True)
class ArtifactSpec:
    """A named constant or data file the model receives (``artifacts=`` keyword of its class)."""

    file: Path | None = None
    value: Any = None


@dataclass(frozen=True)
class ModelSpec:
    """Eager source (``source`` + ``class`` + ``weights``), shipped as ``format`` (eager, or converted to
    torchscript/export/onnx, or compiled to aoti, at build), or a ready-made program (``torchscript:`` or
    ``export:`` file)."""

    format: str
    source: Path | None = None
    class_name: str | None = None
    factory: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    weights: Path | None = None
    program: Path | None = None
    transformers: Path | None = None
    tolerance: float = 1e-4

    @property
    def converted(self) -> bool:
        """True when the builder converts the eager source (a class of the spec's) into ``format``."""
        return self.source is not None and self.format != "eager"


ServingSpec = Serving  # the manifest's own section (markit.core.manifest_types), read with its defaults


@dataclass(frozen=True)
class GoldenSpec:
    input: Path
    expected: Any
    tolerance: float = default_of(Golden, "tolerance")


@dataclass(frozen=True)
class Spec:
    """A valid spec: the sections every task has, and ``settings``, the task's own (its module's frozen
    dataclass, e.g. ``ImageClassificationSettings``; ``None`` for a task without keys of its own)."""

    name: str
    version: str
    task: str
    model: ModelSpec | None  # None for a task without a model of its own (``Task.has_model``)
    serving: ServingSpec
    golden: tuple[GoldenSpec, ...]
    budgets: Mapping[str, int] = field(default_factory=dict)
    settings: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)


def load_spec(path: Path, overrides: Sequence[str] = ()) -> Spec:
    """Read and validate a YAML spec file; ``overrides`` are ``dotted.key=value`` (value parsed as YAML)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SpecError(f"spec file {path} cannot be read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise SpecError(f"spec file {path} is not valid YAML: {err}") from err
    for override in overrides:
        _apply_override(data, override)
    return parse_spec(data, Path(path).resolve().parent)


def _apply_override(data: Any, override: str) -> None:
    """``serving.workers=2`` sets data["serving"]["workers"] = 2; the result is validated like the file."""
    dotted, sep, text = override.partition("=")
    if not sep or not dotted.strip():
        raise SpecError(f"--set {override!r}: expected KEY=VALUE, e.g. serving.workers=2")
    *parents, last = dotted.strip().split(".")
    node = data
    for part in parents:
        if not isinstance(node, dict):
            raise SpecError(f"--set {override!r}: {part!r} is not inside a mapping")
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        raise SpecError(f"--set {override!r}: {dotted!r} is not inside a mapping")
    try:
        node[last] = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"--set {override!r}: the value is not valid YAML: {err}") from err


def parse_spec(data: Any, spec_dir: Path) -> Spec:
    """Validate a parsed spec; file references are resolved relative to ``spec_dir``."""
    if not isinstance(data, dict):
        raise SpecError(f"the spec: expected a mapping of keys, got {type(data).__name__}")
    top = Section(data, "")
    task = TASKS[top.choice("task", tuple(TASKS))]
    _refuse_other_tasks_keys(top, task)
    common = COMMON_REQUIRED if task.has_model else COMMON_REQUIRED - {"model"}
    top.allow(common | task.required_keys, COMMON_OPTIONAL | task.optional_keys)
    refs: dict[str, str] = {}
    settings = task.parse(top, spec_dir, refs)
    model = _task_model(top, task, spec_dir, refs)
    return Spec(
        name=top.matching("name", NAME_PATTERN, "letters, digits, '_' or '-', starting with a letter"),
        version=top.matching("version", VERSION_PATTERN, "e.g. 1.0 or 2024-05-01", allow_number=True),
        task=task.name,
        model=model,
        serving=_serving(top.section("serving", optional=True)),
        golden=_golden(top, spec_dir, refs),
        budgets=_budgets(top.section("budgets", optional=True), task),
        settings=settings,
        metadata=_metadata(top),
        references=refs,
    )


def _refuse_other_tasks_keys(top: Section, task: Task) -> None:
    """A key another task owns gets a message naming who uses it, rather than "unknown key"."""
    for key in top.data:
        owners = [other.name for other in TASKS.values() if key in other.spec_keys]
        if owners and key not in task.spec_keys:
            hint = f"; {task.hint}" if task.hint else ""
            raise SpecError(f"{key}: not used by task {task.name} (only by {', '.join(owners)}){hint}")


# -- sections -------------------------------------------------------------------------------

def _task_model(top: Section, task: Task, spec_dir: Path, refs: dict[str, str]) -> ModelSpec | None:
    """The ``model`` section, checked against what the task serves; None for a task without a model of its own."""
    if not task.has_model:
        return None
    model = _model(top.section("model"), spec_dir, refs)
    if (model.transformers is None) == task.text:
        raise SpecError("model.transformers: a text model is a Hugging Face model directory (model.transformers), "
                        "and only text tasks take one")
    task.check_model(model)
    return model


def _model(section: Section, spec_dir: Path, refs: dict[str, str]) -> ModelSpec:
    section.allow(set(), {"source", "class", "factory", "kwargs", "artifacts", "weights", "format", "tolerance",
                          "torchscript", "export", "transformers"})
    if "transformers" in section.data:
        return _transformers_model(section, spec_dir, refs)
    programs = [key for key in PROGRAM_KEYS if key in section.data]
    if programs:
        extra = sorted(set(section.data) - {programs[0]})
        if extra:
            raise SpecError(f"{section.key(extra[0])}: not used with model.{programs[0]}; give either a "
                            f"{programs[0]} file or source+class+weights (+ format to convert)")
        return ModelSpec(format=programs[0], program=read_file(section, programs[0], spec_dir, refs))
    section.need("source", "class", "weights")
    factory = section.optional("factory", str)
    if factory is not None and not factory.isidentifier():
        raise SpecError(f"{section.key('factory')}: {factory!r} is not a method name")
    kwargs = section.optional("kwargs", dict) or {}
    check_json(kwargs, section.key("kwargs"))
    if "artifacts" in kwargs:
        raise SpecError(f"{section.key('kwargs')}: 'artifacts' is passed by the handler; declare them under model.artifacts")
    tolerance = section.number("tolerance", default=1e-4)
    if tolerance < 0:
        raise SpecError(f"{section.key('tolerance')}: must be >= 0, got {tolerance}")
    return ModelSpec(
        format=section.choice("format", FORMATS, default="eager"),
        source=read_file(section, "source", spec_dir, refs),
        class_name=section.matching("class", PYTHON_NAME, "a class name, optionally module.Class"),
        factory=factory,
        kwargs=kwargs,
        artifacts=_artifacts(section.section("artifacts", optional=True), spec_dir, refs),
        weights=read_file(section, "weights", spec_dir, refs),
        tolerance=tolerance,
    )


def _transformers_model(section: Section, spec_dir: Path, refs: dict[str, str]) -> ModelSpec:
    extra = sorted(set(section.data) - {"transformers", "format", "tolerance"})
    if extra:
        raise SpecError(f"{section.key(extra[0])}: not used with model.transformers (give format and tolerance only)")
    directory = read_file(section, "transformers", spec_dir, refs)
    if not (directory / "config.json").is_file():
        raise SpecError(f"{section.key('transformers')}: {directory} is not a Hugging Face model directory (no config.json)")
    fmt = section.choice("format", ENCODER_FORMATS, default="export")
    tolerance = section.number("tolerance", default=1e-4)
    return ModelSpec(format=fmt, transformers=directory, tolerance=tolerance)


def _artifacts(section: Section, spec_dir: Path, refs: dict[str, str]) -> dict[str, ArtifactSpec]:
    artifacts = {}
    for name in section.data:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{section.key(str(name))}: an artifact name must be a Python identifier")
        entry = Section(section.data[name], section.key(name))
        if set(entry.data) == {"file"}:
            artifacts[name] = ArtifactSpec(file=read_file(entry, "file", spec_dir, refs))
        elif set(entry.data) == {"value"}:
            check_json(entry.data["value"], entry.key("value"))
            artifacts[name] = ArtifactSpec(value=entry.data["value"])
        else:
            raise SpecError(f"{section.key(name)}: expected exactly one of {{file: PATH}} or {{value: JSON}}, got {sorted(entry.data)}")
    return artifacts


def _serving(section: Section) -> Serving:
    section.allow(set(), {"workers", "batch_size", "max_batch_delay", "response_timeout", "torch_threads"})
    return Serving(
        workers=section.integer("workers", default=default_of(Serving, "workers"), low=1, high=64),
        batch_size=section.integer("batch_size", default=default_of(Serving, "batch_size"), low=1, high=1024),
        max_batch_delay=_batch_delay(section),
        response_timeout=section.integer("response_timeout", default=default_of(Serving, "response_timeout"), low=1, high=3600),
        torch_threads=section.integer("torch_threads", default=default_of(Serving, "torch_threads"), low=1, high=256),
    )


def _budgets(section: Section, task: Task) -> dict[str, int]:
    """The task's budgets (markit.core.budgets), each its default unless the spec sets it."""
    section.allow(set(), set(task.budgets))
    return {kind: section.integer(kind, default=default, low=1, high=MOST_BYTES) for kind, default in task.budgets.items()}


def _batch_delay(section: Section) -> int:
    delay = section.integer("max_batch_delay", default=default_of(Serving, "max_batch_delay"), low=0, high=60_000)
    if delay == 0:
        raise SpecError(f"{section.key('max_batch_delay')}: TorchServe reads 0 in an archive's model-config.yaml as "
                        "'not set' and waits its default 100 ms; use 1 to form batches only from requests already waiting")
    return delay


def _golden(top: Section, spec_dir: Path, refs: dict[str, str]) -> tuple[GoldenSpec, ...]:
    items = top.data["golden"]
    if not isinstance(items, list) or not items:
        raise SpecError("golden: expected a list of one or more examples (input, expected, tolerance)")
    examples = []
    for index, item in enumerate(items):
        section = Section(item, f"golden[{index}]", required={"input", "expected"}, optional={"tolerance"})
        check_json(section.data["expected"], section.key("expected"))
        tolerance = section.number("tolerance", default=default_of(Golden, "tolerance"))
        if tolerance < 0:
            raise SpecError(f"{section.key('tolerance')}: must be >= 0, got {tolerance}")
        examples.append(GoldenSpec(read_file(section, "input", spec_dir, refs), section.data["expected"], tolerance))
    return tuple(examples)


def _metadata(top: Section) -> dict[str, Any]:
    metadata = top.data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SpecError(f"metadata: expected a mapping (description, author, training_data, ...), got {type(metadata).__name__}")
    check_json(metadata, "metadata")
    return metadata
