"""Task ``pipeline``: archives composed by a declared graph into one archive (docs/pipelines.md).

Spec keys: ``steps`` (name -> ``{archive: a .mar file, identity: sha256:...}``: each step pinned), ``graph`` (the
nodes, read straight into their manifest types, ``manifest.py``), ``output`` (the answer's fields), ``tables``
(name -> a JSON object file the graph looks up), ``source`` (the pipeline's own Python file, for ``call`` nodes),
``deadline_ms``. No ``model``: the steps bring theirs.

Staging checks each step archive as a server would (``unpack_verified``), refuses one whose identity is not the
pinned one, naming the step, and unpacks it under ``steps/NAME/``, so the pipeline's manifest hashes every file
of every step. The graph's edges are then checked against what each step takes and answers (each task
handler's ``input_kind`` and ``answer_fields``): a mismatch names both nodes and the field.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from markit.archive.unpack import unpack_verified
from markit.archive.zip_layout import MarFileError
from markit.core.manifest import MANIFEST_NAME
from markit.core.manifest_types import ArtifactFile
from markit.core.section import problems
from markit.tasks import handler_class
from markit.tasks.pipeline.handler import PipelineHandler

from ...builder.errors import SpecError
from ...builder.sections import IMAGE_BUDGETS, TEXT_BUDGETS
from ...builder.spec_reader import Section, read_file
from ...builder.task import Task
from .manifest import REQUEST, Call, Crop, Fields, Filter, Identity, Json, Name, Node, Ref, Run, StepArchive, Switch, graph_problem

if TYPE_CHECKING:
    from ...builder.spec import Spec

__all__ = ["TASK", "PipelineSettings"]

STEPS_DIR = "steps"
IDENTITY = TypeAdapter(Identity)
GRAPH = TypeAdapter(tuple[Node, ...])
OUTPUT = TypeAdapter(dict[Name, Ref])


@dataclass(frozen=True)
class PipelineSettings:
    steps: dict[str, tuple[Path, str]]  # name -> (the step's .mar, the identity it is pinned to)
    graph: tuple[Any, ...]
    output: dict[str, str]
    tables: dict[str, Path]
    source: Path | None
    deadline_ms: int


def parse(top: Section, spec_dir: Path, refs: dict[str, str]) -> PipelineSettings:
    steps = top.section("steps")
    if not steps.data:
        raise SpecError("steps: name at least one archive: {NAME: {archive: PATH.mar, identity: sha256:...}}")
    pinned = {name: _step(Section(steps.data[name], steps.key(str(name)), {"archive", "identity"}), spec_dir, refs)
              for name in steps.data}
    tables = top.section("tables", optional=True)
    settings = PipelineSettings(
        steps=pinned,
        graph=_typed(GRAPH, top.data.get("graph"), "graph"),
        output=_typed(OUTPUT, top.data.get("output"), "output"),
        tables={str(name): read_file(tables, str(name), spec_dir, refs) for name in tables.data},
        source=read_file(top, "source", spec_dir, refs) if "source" in top.data else None,
        deadline_ms=top.integer("deadline_ms", default=30_000, low=1, high=3_600_000),
    )
    problem = graph_problem(settings.graph, settings.output, set(pinned), set(settings.tables), settings.source is not None)
    if problem:
        raise SpecError(problem)
    return settings


def _step(section: Section, spec_dir: Path, refs: dict[str, str]) -> tuple[Path, str]:
    if not str(section.prefix.rsplit(".", 1)[1]).isidentifier():
        raise SpecError(f"{section.prefix}: a step's name is a Python identifier")
    identity = section.data["identity"]
    try:
        IDENTITY.validate_python(identity)
    except ValidationError:
        raise SpecError(f"{section.key('identity')}: expected the step archive's identity, sha256: and 64 hex digits "
                        f"(python -m markit.archive.verify ARCHIVE prints it), got {identity!r}") from None
    return read_file(section, "archive", spec_dir, refs), identity


def _typed(adapter: TypeAdapter, value: Any, key: str) -> Any:
    if value is None:
        raise SpecError(f"{key}: required key is missing")
    try:
        return adapter.validate_python(value)
    except ValidationError as err:
        raise SpecError(problems(err, value, at=key)) from None


def stage(spec: Spec, root: Path, _section: dict[str, Any]) -> dict[str, Any]:
    settings: PipelineSettings = spec.settings
    steps = {name: _stage_step(name, mar, identity, root / STEPS_DIR / name) for name, (mar, identity) in settings.steps.items()}
    check_edges(settings.graph, settings.output, {name: step.task for name, step in steps.items()})
    section: dict[str, Any] = {"steps": steps, "graph": settings.graph, "output": settings.output,
                               "deadline_ms": settings.deadline_ms}
    if settings.tables:
        section["tables"] = {name: _stage_table(name, path, root / "tables") for name, path in settings.tables.items()}
    if settings.source is not None:
        if settings.source.suffix != ".py" or not settings.source.is_file():
            raise SpecError(f"source: {settings.source} is not a .py file")
        (root / "pipeline").mkdir()
        shutil.copyfile(settings.source, root / "pipeline" / settings.source.name)
        section["source"] = f"pipeline/{settings.source.name}"
    return section


def _stage_step(name: str, mar: Path, pinned: str, target: Path) -> StepArchive:
    """The step archive checked as a server checks it and unpacked at ``target``; refused, naming the step, when
    its identity is not the pinned one."""
    try:
        unpacked = unpack_verified(mar, target)
    except MarFileError as err:
        raise SpecError(f"steps.{name}.archive: {err}") from err
    if unpacked.identity != pinned:
        shutil.rmtree(target)
        raise SpecError(f"steps.{name}: {mar.name} has identity {unpacked.identity}, and the spec pins {pinned}: refusing a "
                        f"step archive other than the pinned one. If this archive is the one you mean, pin it: "
                        f"steps.{name}.identity: {unpacked.identity}")
    spec = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8"))["spec"]
    if spec.get("task") == "pipeline":
        raise SpecError(f"steps.{name}: {mar.name} is itself a pipeline; compose its steps here instead")
    return StepArchive(directory=f"{STEPS_DIR}/{name}", identity=pinned, name=spec["name"], version=spec["version"],
                       task=spec["task"])


def _stage_table(name: str, path: Path, target: Path) -> ArtifactFile:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SpecError(f"tables.{name}: {path} is not a readable JSON file: {err}") from err
    if not isinstance(table, dict):
        raise SpecError(f"tables.{name}: {path} holds a JSON {type(table).__name__}; a table is an object of key -> value")
    target.mkdir(exist_ok=True)
    shutil.copyfile(path, target / f"{name}.json")
    return ArtifactFile(file=f"tables/{name}.json")


# -- the edges: what each node gives fits what the next takes ----------------------------------------

ANY, IMAGE, TEXT, JSON, DETECTIONS = "any", "image", "text", "json", "detections"
LIST = "list of "


def check_edges(graph: tuple[Any, ...], output: dict[str, str], step_tasks: dict[str, str]) -> None:
    """Each node's inputs, and the output's fields, against what the nodes before them give: a step's input kind, a
    field of a step's answer, a list where a list is needed. SpecError naming both nodes and the field."""
    kinds: dict[str, str] = {REQUEST: ANY}
    steps_of: dict[str, str] = {}
    for index, node in enumerate(graph):
        where = f"graph[{index}] ({node.id!r})"
        kinds[node.id] = _node_kind(node, where, kinds, steps_of, step_tasks)
        if isinstance(node, Run):
            steps_of[node.id] = node.run
    for name, ref in output.items():
        _ref_kind(ref, f"output.{name}", kinds, steps_of, step_tasks)


def _node_kind(node: Any, where: str, kinds: dict[str, str], steps_of: dict[str, str], tasks: dict[str, str]) -> str:
    def kind(ref: str) -> str:
        return _ref_kind(ref, where, kinds, steps_of, tasks)

    if isinstance(node, Run):
        given = kind(node.source)
        if node.each is not None:
            given = _item_kind(given, node.each, where)
        _check_takes(node.run, tasks[node.run], given, node.source, where)
        answer = f"answer:{tasks[node.run]}"
        return LIST + answer if node.each is not None else answer
    if isinstance(node, Crop):
        _need(kind(node.crop), (DETECTIONS,), node.crop, "the boxes to crop (a detection answer's detections)", where)
        _need(kind(node.image), (IMAGE,), node.image, "an image's bytes", where)
        return LIST + IMAGE
    if isinstance(node, Filter):
        given = kind(node.filter)
        _item_kind(given, node.filter, where)
        return given
    if isinstance(node, Switch):
        item = kind(node.source)
        if node.each is not None:
            item = _item_kind(item, node.each, where)
        for case in node.switch:
            if case.run is not None:
                sent = ANY if case.send is not None else item
                _check_takes(case.run, tasks[case.run], sent, node.source, f"{where} case {case.name!r}")
        return LIST + JSON if node.each is not None else JSON
    if isinstance(node, (Call, Fields, Json)):
        for ref in node.reads():
            kind(ref)
        return ANY if isinstance(node, Call) else JSON
    raise SpecError(f"{where}: unknown node")


def _ref_kind(ref: str, where: str, kinds: dict[str, str], steps_of: dict[str, str], tasks: dict[str, str]) -> str:
    root, *fields = ref.split(".")
    kind = kinds[root]
    for name in fields:
        if kind.startswith("answer:"):
            task = kind.split(":", 1)[1]
            declared = _answer_fields(task)
            if declared and name not in declared:
                raise SpecError(f"{where}: {ref!r}: node {root!r} runs step {steps_of.get(root)!r} (task {task}), whose answer has "
                                f"no field {name!r}; it has {', '.join(declared)}")
            kind = declared.get(name, ANY)
        elif kind in (ANY, JSON):
            kind = ANY
        else:
            raise SpecError(f"{where}: {ref!r}: {root!r} gives {kind}, which has no field {name!r}")
    return kind


def _item_kind(kind: str, ref: str, where: str) -> str:
    if kind.startswith(LIST):
        return kind[len(LIST):]
    if kind == DETECTIONS:
        return JSON
    if kind in (ANY, JSON):
        return ANY
    raise SpecError(f"{where}: {ref!r} gives {kind}, not a list to go over")


def _check_takes(step: str, task: str, given: str, ref: str, where: str) -> None:
    takes = _input_kind(task)
    if ANY in (takes, given) or given == takes or (takes == JSON and given not in (IMAGE,)):
        return
    raise SpecError(f"{where}: step {step!r} (task {task}) takes {takes}, and {ref!r} gives {given}; "
                    "put a node between them that makes one of the other")


def _need(kind: str, wanted: tuple[str, ...], ref: str, what: str, where: str) -> None:
    if kind != ANY and kind not in wanted:
        raise SpecError(f"{where}: {ref!r} gives {kind}, and the node needs {what}")


def _input_kind(task: str) -> str:
    try:
        return handler_class(task).input_kind
    except KeyError:
        return ANY


def _answer_fields(task: str) -> dict[str, str]:
    try:
        return dict(handler_class(task).answer_fields)
    except KeyError:
        return {}


TASK = Task(
    name="pipeline",
    handler=PipelineHandler,
    required_keys=frozenset({"steps", "graph", "output"}),
    optional_keys=frozenset({"tables", "source", "deadline_ms"}),
    budgets={**IMAGE_BUDGETS, **TEXT_BUDGETS},
    parse=parse,
    stage=stage,
    has_model=False,
    hint="a pipeline composes archives: name them under steps and join them with graph",
)
