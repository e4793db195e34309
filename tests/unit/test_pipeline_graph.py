"""The pipeline's graph on stand-in steps: the deadline split across nodes and a 504 naming the node, one call per
node for the whole batch, the order of a fan-out's answers, glue refusing what it cannot use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from markit.tasks.pipeline.glue import crop_boxes, filtered
from markit.tasks.pipeline.graph import DeadlineExceeded, Flight, Graph, StepFailed, cumulative_deadlines
from markit.tasks.pipeline.manifest import Filter, PipelineSpec
from markit.tasks.pipeline.steps import Forwarded, StepAnswer

from helpers import png_bytes

IDENTITY = "sha256:" + "0" * 64


@dataclass
class StandIn:
    """A step answering each value with ``{"twice": value * 2}`` (``bad`` refused with a 422), after ``sleep`` s."""

    sleep: float = 0.0
    calls: list[list] = field(default_factory=list)

    def answer(self, values):
        values = [v.fields["body"] if isinstance(v, Forwarded) else v for v in values]  # the request as the caller sent it
        self.calls.append(list(values))
        time.sleep(self.sleep)
        return [StepAnswer({"message": "bad value"}, 422, "Unprocessable Entity") if v == "bad" else StepAnswer({"twice": v * 2}, 200, "OK")
                for v in values]


def spec(graph: list[dict], output: dict[str, str], deadline_ms: int = 30_000) -> PipelineSpec:
    step = {"directory": "steps/s", "identity": IDENTITY, "name": "s", "version": "1", "task": "convention"}
    return PipelineSpec.model_validate({
        "name": "p", "version": "1", "task": "pipeline", "serving": {}, "budgets": {"request_bytes": 1000},
        "golden": [{"input": "golden/a", "expected": {}}], "steps": {"s": step, "t": {**step, "directory": "steps/t"}},
        "graph": graph, "output": output, "deadline_ms": deadline_ms, "source": "pipeline/functions.py"})


def flight(value) -> Flight:
    return Flight({"request": value}, Forwarded({"body": value}, {}))


def test_each_node_calls_its_step_once_for_the_whole_batch_and_keeps_each_fan_out_in_order():
    steps = {"s": StandIn(), "t": StandIn()}
    graph = Graph(spec([{"id": "a", "run": "s", "each": "request"}], {"a": "a"}), steps, {}, {}, 0)
    flights = [Flight({"request": [1, 2, 3]}, Forwarded({}, {})), Flight({"request": [4]}, Forwarded({}, {}))]
    graph.run(flights)
    assert steps["s"].calls == [[1, 2, 3, 4]]
    assert [graph.answer(f)["a"] for f in flights] == [[{"twice": 2}, {"twice": 4}, {"twice": 6}], [{"twice": 8}]]


def test_a_refused_item_fails_its_request_only_naming_the_step_and_the_item():
    graph = Graph(spec([{"id": "a", "run": "s", "each": "request"}], {"a": "a"}), {"s": StandIn(), "t": StandIn()}, {}, {}, 0)
    good, bad = Flight({"request": [1]}, Forwarded({}, {})), Flight({"request": [1, "bad"]}, Forwarded({}, {}))
    graph.run([good, bad])
    assert good.alive and graph.answer(good) == {"a": [{"twice": 2}]}
    assert isinstance(bad.failure, StepFailed) and bad.failure.status == 422
    assert str(bad.failure) == "step 's' (node 'a') answered 422 Unprocessable Entity for item 1 of the node's list: bad value"


def test_the_deadline_is_split_evenly_unless_a_node_sets_its_budget():
    nodes = [{"id": "a", "run": "s"}, {"id": "b", "run": "t", "input": "a", "budget_ms": 100}, {"id": "c", "run": "s", "input": "b"}]
    assert cumulative_deadlines(spec(nodes, {"c": "c"}, deadline_ms=500)) == [200.0, 300.0, 500.0]
    with pytest.raises(ValueError, match="budget_ms add up to 600 ms, more than deadline_ms 500"):
        spec([{**nodes[0], "budget_ms": 300}, nodes[1], {**nodes[2], "budget_ms": 200}], {"c": "c"}, deadline_ms=500)


def test_a_request_past_its_nodes_share_of_the_deadline_is_a_504_naming_the_node():
    steps = {"s": StandIn(), "t": StandIn(sleep=0.15)}
    nodes = [{"id": "quick", "run": "s", "budget_ms": 50}, {"id": "slow", "run": "t", "input": "quick.twice", "budget_ms": 50},
             {"id": "never", "run": "s", "input": "slow.twice"}]
    graph = Graph(spec(nodes, {"n": "never"}, deadline_ms=1000), steps, {}, {}, 0)
    late = flight(1)
    graph.run([late])
    assert isinstance(late.failure, DeadlineExceeded) and late.failure.status == 504
    assert "when node 'slow' finished, past the 100 ms the nodes up to it have of the pipeline's 1000 ms" in str(late.failure)
    assert late.failure.details == {"node": "slow"}
    assert steps["s"].calls == [[1]]  # the node after it never ran


def test_filter_keeps_labels_scores_and_drops_boxes_overlapping_a_kept_one_whatever_their_label():
    box = {"x1": 0, "y1": 0, "x2": 10, "y2": 10}
    items = [{"label": "1", "score": 0.9, "box": box}, {"label": "7", "score": 0.8, "box": box},
             {"label": "7", "score": 0.2, "box": {"x1": 20, "y1": 0, "x2": 30, "y2": 10}},
             {"label": "4", "score": 0.7, "box": {"x1": 40, "y1": 0, "x2": 50, "y2": 10}}]
    node = Filter(id="f", filter="x", labels=("1", "7"), min_score=0.1, max_iou=0.5)
    assert filtered(node, items) == [items[0], items[2]]


def test_crop_cuts_each_box_widened_and_clipped_and_refuses_what_is_not_an_image():
    from io import BytesIO

    from PIL import Image

    page = png_bytes((200, 200, 200), size=(40, 30))
    boxes = [{"box": {"x1": 1.5, "y1": 2, "x2": 10, "y2": 8.2}}, {"box": {"x1": 35, "y1": 25, "x2": 40, "y2": 30}}]
    crops = crop_boxes(page, boxes, 2, 10**6)
    assert [Image.open(BytesIO(c)).size for c in crops] == [(12, 11), (7, 7)]  # x 0..12, y 0..ceil(10.2); the second clipped
    with pytest.raises(Exception, match="crop: the image is a str, not an image's bytes"):
        crop_boxes("text", [], 0, 10)
    with pytest.raises(Exception, match="crop: item 0 has no box"):
        crop_boxes(page, [{"label": "x"}], 0, 10**6)


def test_a_switch_on_one_value_sends_the_field_to_the_step_whose_capability_names_it():
    @dataclass
    class Area(StandIn):
        capabilities: dict = field(default_factory=dict)

    steps = {"s": Area(capabilities={"area": ["Seattle"]}), "t": Area(capabilities={"area": ["San Francisco"]})}
    node = {"id": "f", "switch": [{"name": "sea", "when": {"capability": "area"}, "run": "s", "send": "x"},
                                  {"name": "sf", "when": {"capability": "area"}, "run": "t", "send": "x"}]}
    graph = Graph(spec([node], {"f": "f"}), steps, {}, {}, 0)
    flights = [flight({"area": "San Francisco", "x": 3}), flight({"area": "Seattle", "x": 5}), flight({"area": "Portland", "x": 1})]
    graph.run(flights)
    assert [graph.answer(f) for f in flights[:2]] == [{"f": {"case": "sf", "value": {"twice": 6}}},
                                                       {"f": {"case": "sea", "value": {"twice": 10}}}]
    assert steps["t"].calls == [[3]] and steps["s"].calls == [[5]]
    assert flights[2].failure.status == 422
    assert ("takes none of the cases: sea: area one of ['Seattle'] (its step's capability); "
            "sf: area one of ['San Francisco'] (its step's capability)") in str(flights[2].failure)


def test_a_node_written_wrong_is_named_at_its_place_in_the_graph():
    from pydantic import ValidationError

    from markit.core.section import problems

    graph = [{"id": "a", "run": "s"}, {"id": "b", "switch": "words", "cases": []}, {"id": "c"}]
    with pytest.raises(ValidationError) as caught:
        spec(graph, {"a": "a"})
    said = problems(caught.value, {"graph": graph}, limit=5)
    assert "graph[1].switch: Input should be a valid tuple" in said and "graph[1].cases: Extra inputs are not permitted" in said
    assert "graph[2]: a node has exactly one of run, crop, filter, switch, call, json, fields" in said


def test_a_function_refusing_a_huge_input_answers_a_short_message():
    def refuse(text):
        raise ValueError(f"{text!r} is not a word")  # quotes its whole input, as careless code does

    graph = Graph(spec([{"id": "w", "call": "refuse", "with": {"text": "request"}}], {"w": "w"}), {}, {}, {"refuse": refuse}, 0)
    huge = flight("\x00" * 3_000_000)
    graph.run([huge])
    assert huge.failure.status == 422 and len(str(huge.failure)) < 500
    assert str(huge.failure).startswith("node 'w' (call): refuse() refused its input: '\\x00\\x00")
