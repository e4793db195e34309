"""Task ``pipeline``'s part of the manifest: the step archives it composes, each pinned by its identity, and the
graph that runs them, glue included.

The graph is the spec's own words, read straight into these types (``graph``: a list of nodes, each one key
saying what it does): the builder reads the YAML with them and the worker runs what they describe, so there
is one description of a pipeline. A node reads the request (``request``) or an earlier node's value by name,
with dotted fields (``found.detections``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ...core.manifest_types import ArchivePath, ArtifactFile, SpecBase
from ...core.section import Section

__all__ = ["NODE_KINDS", "REQUEST", "Call", "Case", "Crop", "Fields", "Filter", "Json", "Node", "PipelineSpec", "Run", "SPEC",
           "StepArchive", "Switch", "When", "graph_problem", "node_kind", "ref_root"]

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
Name = Annotated[str, Field(pattern=rf"^{NAME}$")]
Ref = Annotated[str, Field(pattern=rf"^{NAME}(\.{NAME})*$", description="'request', or an earlier node's id, with dotted fields")]
Identity = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
Millis = Annotated[int, Field(ge=1)]
REQUEST = "request"  # the name of the request's input in the graph


def ref_root(ref: str) -> str:
    """The node (or ``request``) a reference reads: ``found`` of ``found.detections``."""
    return ref.split(".", 1)[0]


class StepArchive(Section):
    """A step: an archive unpacked in the pipeline's archive at ``directory``, pinned to ``identity``; its name,
    version and task as its own manifest says them."""

    directory: ArchivePath
    identity: Identity
    name: str
    version: str
    task: str


class _Node(Section):
    id: Name
    optional: bool = Field(False, description="on failure its value is absent (null) and the answer says so; "
                                             "otherwise a failure ends the request")
    budget_ms: Millis | None = Field(None, description="its share of the request's deadline (default: an equal share of "
                                                      "what the nodes with a budget leave)")

    def reads(self) -> tuple[str, ...]:
        """The references it reads."""
        raise NotImplementedError


class _OneOrEach(_Node):
    """A node over ``input`` (one value, default ``request``) or over each item of ``each`` (a list)."""

    input: Ref | None = None
    each: Ref | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _OneOrEach:
        if self.input is not None and self.each is not None:
            raise ValueError(f"node {self.id!r}: give input (one value) or each (a list), not both")
        return self

    @property
    def source(self) -> str:
        return self.each or self.input or REQUEST

    def reads(self) -> tuple[str, ...]:
        return (self.source,)


class Run(_OneOrEach):
    """Run step ``run`` on ``input`` (one value), or on each item of ``each`` (a list: one request per item, batched
    through the step with every other request's items, the answers gathered in order)."""

    run: Name


class Crop(_Node):
    """The regions of ``image`` under the boxes of ``crop`` (a detection answer's ``detections``), each widened by
    ``margin`` pixels and clipped to the image, as PNG images in the order of the boxes; with ``levels``, each
    crop in grey with its levels stretched (its darkest pixel black, its median, the paper, white), as a model
    trained on clean scans expects."""

    crop: Ref
    image: Ref = REQUEST
    margin: Annotated[int, Field(ge=0, le=1024)] = 0
    levels: bool = False

    def reads(self) -> tuple[str, ...]:
        return (self.crop, self.image)


class Filter(_Node):
    """The items of ``filter`` (a list of objects) whose ``label`` is one of ``labels`` and whose ``score`` is at least
    ``min_score``, in order; with ``max_iou``, an item whose ``box`` overlaps an earlier kept one's by more than that
    (intersection over union) is dropped too, whatever its label (detections come best first)."""

    filter: Ref
    labels: tuple[str, ...] | None = None
    min_score: Annotated[float, Field(ge=0, le=1)] | None = None
    max_iou: Annotated[float, Field(ge=0, le=1)] | None = None

    def reads(self) -> tuple[str, ...]:
        return (self.filter,)


class When(Section):
    """A guard on one item: it is a key of table ``in``; its ``field`` (dotted; absent: the item itself) equals
    ``equals`` or is one of ``one_of``; or the case's step declares the item's ``field`` among its
    ``capability`` (``metadata.capabilities.KEY`` of its archive; ``field`` defaults to the same name)."""

    in_: Name | None = Field(None, alias="in")
    field: Ref | None = None
    equals: Any = None
    one_of: tuple[Any, ...] | None = None
    capability: Name | None = None

    @model_validator(mode="after")
    def _one_test(self) -> When:
        tests = [name for name in ("in_", "equals", "one_of", "capability") if getattr(self, name) is not None]
        if len(tests) != 1:
            raise ValueError("a guard has one test: in (a table), equals, one_of or capability")
        if self.in_ is not None and self.field is not None:
            raise ValueError("a guard 'in' a table looks the item itself up; it takes no field")
        return self

    @property
    def looked_at(self) -> str | None:
        """The item's field the guard reads (None: the item itself)."""
        return self.field if self.field is not None or self.capability is None else self.capability


class Case(Section):
    """One way of a switch: taken by an item its guard holds for (no guard: every item left), which goes through
    step ``run`` (its field ``send`` only, when given), is looked up in table ``lookup``, or is answered ``value``."""

    name: Name
    when: When | None = None
    run: Name | None = None
    send: Ref | None = None
    lookup: Name | None = None
    value: Any = None

    @model_validator(mode="after")
    def _one_action(self) -> Case:
        actions = [name for name in ("run", "lookup", "value") if getattr(self, name) is not None]
        if len(actions) != 1:
            raise ValueError(f"case {self.name!r} does one thing: run (a step), lookup (a table) or value, got {actions or 'none'}")
        if self.send is not None and self.run is None:
            raise ValueError(f"case {self.name!r}: send names what to send to its step; it runs none")
        if self.when is not None and self.when.capability is not None and self.run is None:
            raise ValueError(f"case {self.name!r}: a capability guard asks the case's step; it runs none")
        return self


class Switch(_OneOrEach):
    """``input`` (one value, default ``request``), or each item of ``each`` (a list), takes the first of the cases
    (``switch``) whose guard holds; its value is ``{case, value}`` (a list of them for ``each``). The items that
    run one step are batched through it together."""

    switch: Annotated[tuple[Case, ...], Field(min_length=1)]


class Call(_Node):
    """Function ``call`` of the pipeline's own source file, called with ``with`` (argument name -> reference)."""

    call: Name
    with_: dict[Name, Ref] = Field(default_factory=dict, alias="with")

    def reads(self) -> tuple[str, ...]:
        return tuple(self.with_.values())


class Json(_Node):
    """The value of ``json`` read as JSON: bytes or text parsed (within the request's JSON limits), a value already
    parsed as it is. A JSON body reaches a pipeline parsed on TorchServe's own route and as bytes in a KServe v2
    BYTES element; after this node both are the same."""

    json_: Ref = Field(alias="json")

    def reads(self) -> tuple[str, ...]:
        return (self.json_,)


class Fields(_Node):
    """An object made of other values: field name -> reference."""

    fields: Annotated[dict[Name, Ref], Field(min_length=1)]

    def reads(self) -> tuple[str, ...]:
        return tuple(self.fields.values())


NODE_KINDS: dict[str, type[_Node]] = {"run": Run, "crop": Crop, "filter": Filter, "switch": Switch, "call": Call, "json": Json,
                                      "fields": Fields}


def node_kind(node: Any) -> str | None:
    """What a node does: the one key of ``NODE_KINDS`` it has (a dict from the spec, or a typed node)."""
    if isinstance(node, dict):
        kinds = [kind for kind in NODE_KINDS if kind in node]
        return f"{kinds[0]} node" if len(kinds) == 1 else None
    return next((f"{kind} node" for kind, cls in NODE_KINDS.items() if isinstance(node, cls)), None)


Node = Annotated[  # each tagged "KIND node": the tag is not a key of the node, so an error's place skips it
    Annotated[Run, Tag("run node")] | Annotated[Crop, Tag("crop node")] | Annotated[Filter, Tag("filter node")]
    | Annotated[Switch, Tag("switch node")] | Annotated[Call, Tag("call node")] | Annotated[Json, Tag("json node")]
    | Annotated[Fields, Tag("fields node")],
    Discriminator(node_kind, custom_error_type="node_kind",
                  custom_error_message=f"a node has exactly one of {', '.join(NODE_KINDS)}"),
]


class PipelineSpec(SpecBase):
    task: Literal["pipeline"]
    model: None = Field(None, description="a pipeline has no model of its own: its steps are archives with theirs")
    steps: Annotated[dict[Name, StepArchive], Field(min_length=1)]
    graph: Annotated[tuple[Node, ...], Field(min_length=1)]
    output: Annotated[dict[Name, Ref], Field(min_length=1, description="the answer's fields, each a reference")]
    tables: dict[Name, ArtifactFile] | None = Field(None, description="JSON objects (key -> value) the graph looks up")
    source: ArchivePath | None = Field(None, description="the pipeline's own Python file: the functions call nodes name")
    deadline_ms: Millis = 30_000

    @model_validator(mode="after")
    def _graph_closed(self) -> PipelineSpec:
        problem = graph_problem(self.graph, self.output, set(self.steps), set(self.tables or {}), self.source is not None)
        if problem:
            raise ValueError(problem)
        given = sum(node.budget_ms or 0 for node in self.graph)
        if given > self.deadline_ms:
            raise ValueError(f"the nodes' budget_ms add up to {given} ms, more than deadline_ms {self.deadline_ms}")
        return self


def graph_problem(graph: tuple[Any, ...], output: dict[str, str], steps: set[str], tables: set[str], has_source: bool) -> str | None:
    """What is wrong with the graph's names, or None: each id once, every reference to the request or an earlier
    node, every step, table and function known."""
    known = {REQUEST}
    for index, node in enumerate(graph):
        where = f"graph[{index}] ({node.id!r})"
        if node.id in known:
            return f"{where}: id {node.id!r} is {'reserved' if node.id == REQUEST else 'used by an earlier node'}"
        unknown = [ref for ref in node.reads() if ref_root(ref) not in known]
        if unknown:
            return f"{where}: {unknown[0]!r} is not the request or an earlier node's id; nodes read only what came before"
        missing = _missing_name(node, steps, tables, has_source)
        if missing:
            return f"{where}: {missing}"
        known.add(node.id)
    unknown = [ref for ref in output.values() if ref_root(ref) not in known]
    return f"output: {unknown[0]!r} is not the request or a node's id" if unknown else None


def _missing_name(node: _Node, steps: set[str], tables: set[str], has_source: bool) -> str | None:
    runs = [node.run] if isinstance(node, Run) else [case.run for case in node.switch if case.run] if isinstance(node, Switch) else []
    looked = [] if not isinstance(node, Switch) else [name for case in node.switch
                                                       for name in (case.lookup, case.when.in_ if case.when else None) if name]
    for step in runs:
        if step not in steps:
            return f"step {step!r} is not one of the pipeline's steps {sorted(steps)}"
    for table in looked:
        if table not in tables:
            return f"table {table!r} is not one of the pipeline's tables {sorted(tables)}"
    if isinstance(node, Call) and not has_source:
        return f"call {node.call!r} needs the pipeline's source file (source) defining it"
    return None


SPEC = PipelineSpec
