"""Running a pipeline's graph over a batch of requests, node by node, each request isolated from the others.

Every node runs once per batch: a step node sends the values of every live request (and every item of a
fan-out) to its step in one call, so they are batched through the step's model together; glue runs per
request. A request whose node fails stops there with that node's error (``StepFailed``: the step's name,
status and message), unless the node is ``optional``: then its value is absent (null), the nodes reading it
are skipped, and the answer lists what is absent. Nothing is retried. After each node a request past its
share of the deadline fails with a 504 naming the node (``DeadlineExceeded``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import HandlerError, UnprocessableInput
from .glue import MISSING, crop_boxes, field_of, filtered, guard_holds, parsed_json, resolve
from .manifest import REQUEST, Call, Case, Crop, Fields, Filter, Json, PipelineSpec, Run, Switch, ref_root
from .steps import Forwarded, LoadedStep, StepAnswer

__all__ = ["DeadlineExceeded", "Flight", "Graph", "NodeFailed", "StepFailed"]

log = logging.getLogger(__name__)

MESSAGE_CHARS = 400  # the most of a function's own message an answer carries


class StepFailed(HandlerError):
    """A step answered a node's value with an error: the request is answered with the step's status, and the body
    names the step and the node (``details``)."""

    def __init__(self, node: str, step: str, answer: StepAnswer, item: int | None = None) -> None:
        where = "" if item is None else f" for item {item} of the node's list"
        super().__init__(f"step {step!r} (node {node!r}) answered {answer.status} {answer.phrase}{where}: {answer.message}")
        self.status, self.phrase = answer.status, answer.phrase
        self.details = {"node": node, "step": step, "step_status": answer.status}


class NodeFailed(HandlerError):
    """A glue node could not do its work on a request's values: the cause's status, the node named."""

    def __init__(self, node: str, op: str, cause: HandlerError) -> None:
        super().__init__(f"node {node!r} ({op}): {cause}")
        self.status, self.phrase = cause.status, cause.phrase
        self.details = {"node": node}


class DeadlineExceeded(HandlerError):
    status = 504
    phrase = "Gateway Timeout"

    def __init__(self, message: str, node: str) -> None:
        super().__init__(message)
        self.details = {"node": node}


@dataclass
class Flight:
    """One request going through the graph: its values by node id, when it started, its error or what is absent."""

    values: dict[str, Any]
    forwarded: Forwarded
    started: float = field(default_factory=time.monotonic)
    failure: HandlerError | None = None
    absent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.failure is None


class Graph:
    """The spec's graph over loaded steps, tables and the pipeline's own functions."""

    def __init__(self, spec: PipelineSpec, steps: Mapping[str, LoadedStep], tables: Mapping[str, Mapping[str, Any]],
                 functions: Mapping[str, Callable[..., Any]], max_pixels: int) -> None:
        self.spec, self.steps, self.tables, self.functions, self.max_pixels = spec, steps, tables, functions, max_pixels
        self.deadlines = cumulative_deadlines(spec)

    def run(self, flights: Sequence[Flight]) -> None:
        """Every node over the live flights, in order; each flight ends with its values or its failure."""
        for node, deadline in zip(self.spec.graph, self.deadlines, strict=True):
            live = [flight for flight in flights if flight.alive]
            if not live:
                return
            ready = [flight for flight in live if self._inputs_present(node, flight)]
            if ready:
                self._node(node, ready)
            self._check_deadline(node.id, deadline, live)

    def answer(self, flight: Flight) -> dict[str, Any]:
        """The answer's fields for a flight that got through."""
        return {name: resolve(flight.values, ref) for name, ref in self.spec.output.items()}

    # -- the nodes ---------------------------------------------------------------------------------
    def _node(self, node: Any, flights: list[Flight]) -> None:
        if isinstance(node, Run):
            self._run(node, flights)
        elif isinstance(node, Switch):
            self._switch(node, flights)
        else:
            for flight in flights:
                self._glue(node, flight)

    def _run(self, node: Run, flights: list[Flight]) -> None:
        jobs: list[tuple[Flight, int | None, Any]] = []
        for flight in flights:
            value = self._guarded(node, flight, lambda flight=flight: self._source(node, flight))
            if value is _FAILED:
                continue
            if node.each is None:
                jobs.append((flight, None, value))
            elif not isinstance(value, list):
                self._fail(node, flight, NodeFailed(node.id, "run", UnprocessableInput(
                    f"each: {node.each!r} is a {type(value).__name__}, not a list")))
            else:
                flight.values[node.id] = []
                jobs += [(flight, index, item) for index, item in enumerate(value)]
        answers = self.steps[node.run].answer([value for _, _, value in jobs])
        for (flight, index, _), answer in zip(jobs, answers, strict=True):
            if not flight.alive or (node.optional and flight.values.get(node.id, 0) is None):
                continue
            if not answer.ok:
                self._fail(node, flight, StepFailed(node.id, node.run, answer, index))
            elif index is None:
                flight.values[node.id] = answer.body
            else:
                flight.values[node.id].append(answer.body)

    def _source(self, node: Run, flight: Flight) -> Any:
        """What a step node sends: the request as the caller sent it (``input: request``, the default), else the value
        read (a fan-out over ``request`` goes over the request's value, a list)."""
        if node.each is None and node.source == REQUEST:
            return flight.forwarded
        return resolve(flight.values, node.source)

    def _switch(self, node: Switch, flights: list[Flight]) -> None:
        routed: dict[str, list[tuple[Flight, int, Any]]] = {case.name: [] for case in node.switch}
        for flight in flights:
            items = self._guarded(node, flight, lambda flight=flight: self._routed(node, flight, routed))
            if items is not _FAILED:
                flight.values[node.id] = items
        for case in node.switch:
            jobs = [job for job in routed[case.name] if job[0].alive]
            if case.run is None:
                for flight, index, item in jobs:
                    self._settle(node, case, flight, index, item)
                continue
            sent = [(job, self._sent(node, case, *job)) for job in jobs]
            sent = [(job, value) for job, value in sent if value is not _FAILED]
            answers = self.steps[case.run].answer([value for _, value in sent])
            for ((flight, index, _), _), answer in zip(sent, answers, strict=True):
                if not flight.alive or flight.values.get(node.id) is None:
                    continue
                if answer.ok:
                    flight.values[node.id][index] = {"case": case.name, "value": answer.body}
                else:
                    self._fail(node, flight, StepFailed(node.id, case.run, answer, index if node.each else None))
        if node.each is None:  # one value in, one {case, value} out
            for flight in flights:
                if flight.alive and isinstance(flight.values.get(node.id), list):
                    flight.values[node.id] = flight.values[node.id][0]

    def _sent(self, node: Switch, case: Case, flight: Flight, index: int, item: Any) -> Any:
        """What a case sends its step: the item's field ``send``, the request as the caller sent it, or the item."""
        if case.send is not None:
            value = field_of(item, case.send)
            if value is MISSING:
                self._fail(node, flight, NodeFailed(node.id, "switch", UnprocessableInput(
                    f"case {case.name!r}: the item has no field {case.send!r} to send to step {case.run!r}")))
                return _FAILED
            return value
        if node.each is None and node.source == REQUEST:
            return flight.forwarded
        return item

    def _settle(self, node: Switch, case: Case, flight: Flight, index: int, item: Any) -> None:
        """An item of a case that looks it up or answers a value."""
        if not flight.alive or flight.values.get(node.id) is None:
            return
        if case.lookup is None:
            flight.values[node.id][index] = {"case": case.name, "value": case.value}
        elif isinstance(item, str) and item in self.tables[case.lookup]:
            flight.values[node.id][index] = {"case": case.name, "value": self.tables[case.lookup][item]}
        else:
            self._fail(node, flight, NodeFailed(node.id, "switch", UnprocessableInput(
                f"case {case.name!r}: item {index} ({item!r:.60}) is not a key of table {case.lookup!r}")))

    def _routed(self, node: Switch, flight: Flight, routed: dict[str, list[tuple[Flight, int, Any]]]) -> list[Any]:
        """Each item (the one input, or each of the list) to its case (``routed``); the slots to fill, one per item."""
        value = resolve(flight.values, node.source)
        if node.each is not None and not isinstance(value, list):
            raise UnprocessableInput(f"switch: {node.each!r} is a {type(value).__name__}, not a list")
        items = value if node.each is not None else [value]
        for index, item in enumerate(items):
            case = next((case for case in node.switch if guard_holds(case.when, item, self.tables, self._capabilities(case))), None)
            if case is None:
                which = f"item {index}" if node.each is not None else "the input"
                cases = "; ".join(self._guard_said(case) for case in node.switch)
                raise UnprocessableInput(f"{which} ({_said(item)}) takes none of the cases: {cases}")
            routed[case.name].append((flight, index, item))
        return [None] * len(items)

    def _guard_said(self, case: Case) -> str:
        """``sf: area one of ['San Francisco']``: what a case takes, for a message."""
        when = case.when
        if when is None:
            return f"{case.name}: any"
        if when.in_ is not None:
            return f"{case.name}: a key of table {when.in_!r}"
        field = when.looked_at or "the item"
        if when.capability is not None:
            return f"{case.name}: {field} one of {self._capabilities(case).get(when.capability)!r} (its step's capability)"
        return f"{case.name}: {field} " + (f"one of {list(when.one_of)!r}" if when.one_of is not None else f"= {when.equals!r}")

    def _capabilities(self, case: Case) -> Mapping[str, Any]:
        """What the case's step declares it can do (its archive's ``metadata.capabilities``)."""
        return getattr(self.steps.get(case.run or ""), "capabilities", {}) or {}

    def _glue(self, node: Any, flight: Flight) -> None:
        value = self._guarded(node, flight, lambda: self._glue_value(node, flight.values))
        if value is not _FAILED:
            flight.values[node.id] = value

    def _glue_value(self, node: Any, values: Mapping[str, Any]) -> Any:
        if isinstance(node, Crop):
            return crop_boxes(resolve(values, node.image), resolve(values, node.crop), node.margin, self.max_pixels, node.levels)
        if isinstance(node, Filter):
            return filtered(node, resolve(values, node.filter))
        if isinstance(node, Fields):
            return {name: resolve(values, ref) for name, ref in node.fields.items()}
        if isinstance(node, Json):
            return parsed_json(resolve(values, node.json_))
        if isinstance(node, Call):
            return self._call(node, {name: resolve(values, ref) for name, ref in node.with_.items()})
        raise TypeError(f"unknown node {node!r}")

    def _call(self, node: Call, arguments: dict[str, Any]) -> Any:
        try:
            return self.functions[node.call](**arguments)
        except HandlerError:
            raise
        except ValueError as err:  # the function refusing what it was given, as a model's preprocess may
            raise UnprocessableInput(f"{node.call}() refused its input: {_shortened(str(err))}") from err

    # -- failures, absence, deadline ---------------------------------------------------------------
    def _guarded(self, node: Any, flight: Flight, work: Callable[[], Any]) -> Any:
        """``work()`` for one flight; on error the flight fails (or the optional node's value is absent)."""
        op = type(node).__name__.lower()
        try:
            return work()
        except HandlerError as err:
            error: HandlerError = NodeFailed(node.id, op, err)
        except Exception as err:  # a bug in the pipeline's own function: this request fails, the others do not
            log.exception("node %r (%s) failed", node.id, op)
            error = NodeFailed(node.id, op, HandlerError(f"{type(err).__name__}: {err}; see the model log"))
        self._fail(node, flight, error)
        return _FAILED

    def _fail(self, node: Any, flight: Flight, error: HandlerError) -> None:
        if node.optional:
            flight.values[node.id] = None
            flight.absent.append({"node": node.id, "status": error.status, "message": str(error)})
        else:
            flight.failure = error

    def _inputs_present(self, node: Any, flight: Flight) -> bool:
        """False (the node's value absent, and said) when it reads an optional node that failed."""
        gone = [ref for ref in node.reads() if ref_root(ref) != REQUEST and flight.values.get(ref_root(ref)) is None]
        if not gone:
            return True
        flight.values[node.id] = None
        flight.absent.append({"node": node.id, "skipped": f"its input {gone[0]!r} is absent"})
        return False

    def _check_deadline(self, node: str, deadline: float, flights: list[Flight]) -> None:
        now = time.monotonic()
        for flight in flights:
            spent = (now - flight.started) * 1000
            if flight.alive and spent > deadline:
                flight.failure = DeadlineExceeded(
                    f"deadline: the request was {spent:.0f} ms in when node {node!r} finished, past the {deadline:.0f} ms "
                    f"the nodes up to it have of the pipeline's {self.spec.deadline_ms} ms (deadline_ms, budget_ms)", node)


_FAILED = object()


def _said(item: Any) -> str:
    """An item as a message quotes it: short."""
    return _shortened(repr(item), 60)


def _shortened(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A message the pipeline's own function wrote, or a value it quotes, cut to ``limit`` characters: a refusal that
    echoes a huge input must not become a huge answer."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def cumulative_deadlines(spec: PipelineSpec) -> list[float]:
    """For each node, the milliseconds into the request by which it must have finished: each node's ``budget_ms``,
    the nodes without one sharing what is left of ``deadline_ms`` equally."""
    given = sum(node.budget_ms or 0 for node in spec.graph)
    unset = sum(node.budget_ms is None for node in spec.graph)
    share = max(spec.deadline_ms - given, 0) / unset if unset else 0.0
    total, marks = 0.0, []
    for node in spec.graph:
        total += node.budget_ms if node.budget_ms is not None else share
        marks.append(total)
    return marks
