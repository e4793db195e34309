"""The workflow comparison (benchmarks/workflow.py, war.py, war_glue.py, digit_pages.py) without a server: the
glue's crops and reading, its refusals, the workflow spec and the archiver's command, the pages, and the report."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from ts.utils.util import PredictionException

from benchmarks import war, war_glue, workflow
from benchmarks.bodies import Body
from benchmarks.digit_pages import BOLD, blank_page, bold_page, number_of
from benchmarks.servers import FrontendCounters
from benchmarks.war_glue import crop_box, crops_request, reading
from markit.archive.mar_file import MarInfo
from markit.ops.load.stats import LoadResult

SETTINGS = {"digit_boxes": {"minWorkers": 1, "maxWorkers": 1, "batchSize": 8, "maxBatchDelay": 5, "responseTimeout": 120},
            "digits": {"minWorkers": 1, "maxWorkers": 2, "batchSize": 16, "maxBatchDelay": 10, "responseTimeout": 120}}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def box(x1: float, y1: float, x2: float, y2: float) -> dict[str, float]:
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2}


# -- the glue: crops -------------------------------------------------------------------------------------------

def test_a_box_is_widened_by_the_margin_floored_left_and_top_ceiled_right_and_bottom():
    assert crop_box(box(10.5, 20.2, 30.1, 40.9), 96, 96) == (8, 18, 33, 43)
    assert crop_box(box(10.0, 20.0, 30.0, 40.0), 96, 96) == (8, 18, 32, 42)  # whole pixels stay whole


def test_a_box_at_the_page_edge_is_clipped_to_the_page():
    assert crop_box(box(0.4, 1.5, 95.2, 63.9), 96, 64) == (0, 0, 96, 64)


def test_the_classifier_gets_one_v1_request_with_each_crop_levels_stretched_as_a_png_in_detection_order():
    page = np.full((40, 60), 230, np.uint8)  # grey paper
    page[10:20, 5] = 0                       # a black stroke
    page[12:30, 44] = 100                    # a grey one
    request = json.loads(crops_request(png(page), [{"box": box(40, 12, 50, 30)}, {"box": box(4, 10, 6, 20)}]))
    assert list(request) == ["instances"] and all(list(item) == ["b64"] for item in request["instances"])
    first, second = (np.asarray(Image.open(io.BytesIO(base64.b64decode(item["b64"])))) for item in request["instances"])
    assert first.shape == (22, 14) and second.shape == (14, 6)  # each side + 2 px
    assert (first[2:20, 6] == 0).all() and (first[:, :6] == 255).all()  # its darkest black, the paper white
    assert (second[2:12, 3] == 0).all() and (second[:, 0] == 255).all()


def test_a_crop_of_one_level_is_all_white_and_a_grey_crop_is_stretched():
    assert np.asarray(war_glue.stretched(Image.new("L", (5, 5), 40))).min() == 255
    grey = np.array([[200, 200, 200], [200, 120, 200], [160, 200, 200]], np.uint8)
    assert np.asarray(war_glue.stretched(Image.fromarray(grey).convert("RGB"))).tolist() == [[255, 255, 255], [255, 0, 255],
                                                                                            [127, 255, 255]]


def test_one_box_per_digit_drops_a_later_detection_overlapping_a_kept_one():
    first, twin, apart = ({"label": "1", "box": box(0, 0, 10, 10)}, {"label": "7", "box": box(1, 0, 11, 10)},
                          {"label": "4", "box": box(5, 0, 15, 10)})
    assert war_glue.one_per_digit([first, twin, apart]) == [first, apart]  # IoU 9/11 dropped, 5/15 kept
    assert war_glue.iou(first["box"], box(20, 20, 30, 30)) == 0.0


def test_nothing_detected_makes_an_empty_request():
    assert json.loads(crops_request(png(np.full((8, 8), 255, np.uint8)), [])) == {"instances": []}


# -- the glue: the number --------------------------------------------------------------------------------------

def test_the_digits_are_read_left_to_right_by_box_centre():
    detections = [{"label": "7", "box": box(50, 0, 60, 10)}, {"label": "4", "box": box(0, 50, 30, 60)},
                  {"label": "0", "box": box(20, 20, 28, 30)}]
    results = [{"digit": 1, "probability": 0.9}, {"digit": 4, "probability": 0.8}, {"digit": 0, "probability": 0.7}]
    answer = reading(detections, results)  # centres 55, 15, 24
    assert answer["number"] == "401"
    assert answer["digits"] == [{"digit": 4, "probability": 0.8, "box": box(0, 50, 30, 60), "detector_label": "4"},
                                {"digit": 0, "probability": 0.7, "box": box(20, 20, 28, 30), "detector_label": "0"},
                                {"digit": 1, "probability": 0.9, "box": box(50, 0, 60, 10), "detector_label": "7"}]


def test_fewer_answers_than_crops_fails_the_classifier_step():
    with pytest.raises(PredictionException, match="step digits failed: 500: 1 answers for 2 crops"):
        reading([{"box": box(0, 0, 1, 1)}, {"box": box(2, 0, 3, 1)}], [{"digit": 1, "probability": 1.0}])


def test_a_steps_refusal_fails_with_its_step_status_and_message():
    refusal = json.dumps({"code": 415, "type": "UnsupportedMediaType", "message": "not an image"}).encode()
    with pytest.raises(PredictionException) as failed:
        war_glue.detections_of(refusal)
    assert failed.value.error_code == 415
    assert failed.value.message == "step digit_boxes failed: 415: UnsupportedMediaType: not an image"
    classifier = {"code": 422, "type": "UnprocessableInput", "message": "instances[1]: no digit found"}
    with pytest.raises(PredictionException, match=re.escape("step digits failed: 422: UnprocessableInput: instances[1]: no digit found")):
        war_glue.results_of(json.dumps(classifier).encode())


@pytest.mark.parametrize("answer", [b"<html>", json.dumps({"predictions": [{"result": {"label": 3}}]}).encode(), json.dumps([1]).encode()])
def test_an_unreadable_answer_fails_the_step_with_500(answer):
    with pytest.raises(PredictionException) as failed:
        war_glue.results_of(answer)
    assert failed.value.error_code == 500 and failed.value.message.startswith("step digits failed: 500: ")


def test_the_nodes_answer_none_at_worker_start_and_one_answer_per_request():
    assert war_glue.page(None, None) is None and war_glue.crop(None, None) is None and war_glue.read(None, None) is None
    assert war_glue.page([{"body": b"page"}, {"data": b"other"}], None) == [b"page", b"other"]
    detections = json.dumps({"detections": [{"box": box(0, 0, 4, 4)}, {"box": box(10, 0, 14, 4)}]}).encode()
    predictions = {"predictions": [{"result": {"digit": 7, "probability": 0.5}, "model": {}},
                                   {"result": {"digit": 2, "probability": 0.6}, "model": {}}]}
    answers = war_glue.read([{"digit_boxes": detections, "digits": json.dumps(predictions).encode()}], None)
    assert [answer["number"] for answer in answers] == ["72"]


def test_nothing_detected_reads_an_empty_number_whatever_the_classifier_said():
    refused = json.dumps({"code": 400, "type": "BadInput", "message": "'instances' must be a non-empty JSON list"}).encode()
    assert war_glue.read([{"digit_boxes": b'{"detections": []}', "digits": refused}], None) == [{"number": "", "digits": []}]


# -- the .war --------------------------------------------------------------------------------------------------

def test_the_spec_names_each_step_with_its_shipped_settings_and_the_dag():
    spec = yaml.safe_load(war.workflow_spec(SETTINGS))
    assert spec["models"]["digits"] == {"url": "digits.mar", "min-workers": 1, "max-workers": 2, "batch-size": 16,
                                        "max-batch-delay": 10}
    assert spec["models"]["digit_boxes"]["batch-size"] == 8 and spec["models"]["digit_boxes"]["url"] == "digit_boxes.mar"
    assert spec["dag"] == war.DAG


def test_a_node_timeout_is_a_global_key_read_before_any_model():
    spec = war.workflow_spec(SETTINGS, timeout_ms=1000)
    assert spec.startswith("models:\n  timeout-ms: 1000\n  digit_boxes:")
    assert "timeout-ms" not in war.workflow_spec(SETTINGS)


def test_the_dag_has_one_start_node_and_reaches_every_node_in_order():
    children = {child for targets in war.DAG.values() for child in targets}
    assert [node for node in war.DAG if node not in children] == ["page"]  # TorchServe refuses several start nodes
    feeds = {node: [parent for parent, targets in war.DAG.items() if node in targets] for node in children}
    assert sorted(feeds["crop"]) == ["digit_boxes", "page"] and sorted(feeds["read"]) == ["digit_boxes", "digits"]
    assert feeds["digits"] == ["crop"] and feeds["digit_boxes"] == ["page"]
    functions = (set(war.DAG) | children) - set(war.STEPS)
    assert all(callable(getattr(war_glue, name)) for name in functions)


def test_the_archiver_is_given_the_spec_and_the_glue(tmp_path: Path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "torch-workflow-archiver"
    fake.write_text(f"#!{sys.executable}\nimport json, pathlib, shutil, sys\n"
                    "args = dict(zip(sys.argv[1::2], sys.argv[2::2]))\n"
                    "out = pathlib.Path(args['--export-path']) / (args['--workflow-name'] + '.war')\n"
                    "out.write_text(json.dumps({'argv': sys.argv[1:], 'spec': open(args['--spec-file']).read(),"
                    " 'handler': open(args['--handler']).read()}))\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    made = war.build_war(SETTINGS, tmp_path / "out", venv)
    assert made == tmp_path / "out" / "read_number.war"
    written = json.loads(made.read_text(encoding="utf-8"))
    assert written["spec"] == war.workflow_spec(SETTINGS)
    assert written["handler"] == Path(war_glue.__file__).read_text(encoding="utf-8")
    assert written["argv"][written["argv"].index("--handler") + 1].endswith("/read_number_glue.py")


def test_a_failing_archiver_names_what_failed(tmp_path: Path):
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "torch-workflow-archiver"
    fake.write_text("#!/bin/sh\necho broken spec >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(war.WorkflowError, match=r"(?s)archiving the workflow failed \(exit 3\):.*broken spec"):
        war.build_war(SETTINGS, tmp_path / "out", tmp_path)


# -- the pages -------------------------------------------------------------------------------------------------

def test_the_number_on_a_page_is_its_labels_by_box_centre():
    boxes = np.array([[50, 0, 60, 10], [0, 0, 10, 10], [20, 5, 40, 9]], np.float32)
    assert number_of(boxes, np.array([3, 1, 4])) == "143"


def test_the_blank_page_is_white_and_the_bold_digits_crop_is_more_than_half_solid_ink():
    assert np.asarray(Image.open(io.BytesIO(blank_page().data))).min() == 255
    page = np.asarray(Image.open(io.BytesIO(bold_page().data)))
    (_, height, _, top, left), (_, bold_height, _, bold_top, bold_left) = BOLD
    clear, bold = (ink_crop(page[top:top + side, left:left + side]) for top, left, side in ((top, left, height),
                                                                                           (bold_top, bold_left, bold_height)))
    assert (clear == 0).mean() < 0.5 and np.asarray(war_glue.stretched(Image.fromarray(clear))).min() == 0
    assert (bold == 0).mean() > 0.5  # its median is its darkest level: stretched, the crop is all white
    assert np.asarray(war_glue.stretched(Image.fromarray(bold))).min() == 255


def ink_crop(patch: np.ndarray) -> np.ndarray:
    """The patch's ink box widened by the margin, as the pipeline crops a detection that fits the ink."""
    rows, cols = np.nonzero(patch < 255)
    padded = np.pad(patch, war_glue.MARGIN, constant_values=255)
    return padded[rows.min():rows.max() + 1 + 2 * war_glue.MARGIN, cols.min():cols.max() + 1 + 2 * war_glue.MARGIN]


# -- the report ------------------------------------------------------------------------------------------------

def result(rate: float, p99: float) -> LoadResult:
    return LoadResult("wrk", 10.0, int(rate * 10), 0, p99 / 2, p99 * 0.8, p99, 0.1)


def measured(rate: float, p99: float, probes: tuple = ()) -> workflow.Measured:
    return workflow.Measured(result(rate, p99), result(rate / 8, p99 / 4), {"read_number__crop": FrontendCounters(100, 300_000, 50_000)},
                             probes)


def test_the_sides_take_turns_and_an_absent_archive_of_ours_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(workflow, "measure_workflow",
                        lambda *args, probe=False, **kwargs: (calls.append(("workflow", probe)) or measured(100, 40), "evidence"))
    monkeypatch.setattr(workflow, "measure_ours", lambda *args, probe=False, **kwargs: calls.append(("ours", probe)) or measured(200, 20))
    options = workflow.PipelineOptions(body=Body(b"x", "image/png", "page"), number="1", rounds=3)
    ours = tmp_path / "read_number.mar"
    ours.write_bytes(b"")
    runs = workflow.measure_pipelines(tmp_path, tmp_path / "w.war", ours, options, tmp_path, lambda _: None)
    assert calls == [("workflow", True), ("ours", True), ("ours", False), ("workflow", False), ("workflow", False), ("ours", False)]
    assert runs.rounds == [(0, 0), (1, 1), (2, 2)] and runs.evidence == "evidence" and not runs.ours_missing
    calls.clear()
    runs = workflow.measure_pipelines(tmp_path, tmp_path / "w.war", tmp_path / "absent.mar", options, tmp_path, lambda _: None)
    assert [side for side, _ in calls] == ["workflow"] * 3 and runs.rounds == [(0, -1), (1, -1), (2, -1)]
    assert runs.ours_missing.endswith("absent.mar does not exist (yet)")


def test_the_report_holds_both_sides_the_ratios_and_each_failure_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    info = MarInfo("digits", "1.0", "digits.mar", "python", SETTINGS["digits"], 1)
    monkeypatch.setattr(workflow, "read_mar", lambda path: info)
    monkeypatch.setattr(workflow, "machine", lambda: "2 cores")
    cases = [case for case, _ in workflow.failure_cases()]
    probes = tuple(workflow.Probe(case, 500, '{"message":"Error executing read"}', 20.0) for case in cases)
    ours = tuple(workflow.Probe(case, 422, '{"step":"digits"}', 5.0) for case in cases)
    stalled = dataclasses.replace(measured(110, 44), stalls=3)
    runs = workflow.PipelineRuns(workflow=[measured(100, 40, probes), stalled], ours=[measured(200, 20, ours), measured(330, 11)],
                                 rounds=[(0, 0), (1, 1)], evidence="the detector alone finds 6")
    options = workflow.PipelineOptions(body=Body(b"x", "image/png", "a page"), number="24550", rounds=2)
    text = workflow.render_workflow(tmp_path, tmp_path / "read_number.mar", options, runs)
    assert "TorchServe workflow (.war)       105.0 /s   21.0 ms   42.0 ms        5.2 ms       0       3     nan" in text
    assert "ours (pipeline archive)          265.0 /s" in text
    assert "ours / workflow, closed-loop throughput: 2.50x (rounds 2.00-3.00x; higher is better)" in text
    assert "ours / workflow, closed-loop p99: 0.38x (rounds 0.25-0.50x; lower is better)" in text
    assert "crop 3.0 ms (0.5 queued)" in text and "the detector alone finds 6" in text
    for case in cases:
        block = text.split(f"    {case}:")[1]
        assert '500 in 20 ms: {"message":"Error executing read"}' in block and '422 in 5 ms: {"step":"digits"}' in block


def test_an_answer_is_kept_compact_and_cut():
    assert workflow.excerpt('{\n  "number": "1"\n}') == '{"number":"1"}'
    assert workflow.excerpt("x" * 400, 10) == "x" * 10 + "..."


def test_each_timed_out_node_call_is_counted_once():
    log = "\n".join(["2026-12-06T14:26:37,898 [ERROR] wf-execute-thread-0 DagExecutor - Timed out while executing read for attempt 0",
                     "2026-12-06T14:26:37,898 [ERROR] wf-execute-thread-0 DagExecutor - Timed out while executing read for attempt 0",
                     "2026-12-06T14:26:37,898 [ERROR] wf-execute-thread-0 DagExecutor - null",
                     "2026-12-06T14:26:40,249 [ERROR] wf-execute-thread-2 DagExecutor - Timed out while executing crop for attempt 0"])
    assert len(workflow.timed_out(log)) == 2


def test_node_calls_are_the_answered_workflow_requests_when_torchserve_counts_none():
    assert workflow.per_call(FrontendCounters(0, 5000, 1000), 50) == FrontendCounters(50, 5000, 1000)
    assert workflow.per_call(FrontendCounters(7, 5000, 1000), 50) == FrontendCounters(7, 5000, 1000)


def test_both_sides_must_read_the_same_digits_with_close_probabilities():
    digit = {"digit": 4, "probability": 0.81, "box": box(1, 2, 3, 4), "detector_label": "4"}
    close = {**digit, "probability": 0.8104}
    assert workflow.same_answers({"digits": [digit]}, {"digits": [close], "model": {}}).startswith(
        "same answers: 1 digits with the same boxes and detector labels, probabilities within 0.0004")
    assert "DIFFER" in workflow.same_answers({"digits": [digit]}, {"digits": [{**digit, "box": box(1, 2, 3, 5)}]})
    assert "DIFFER: probabilities 0.01 apart" in workflow.same_answers({"digits": [digit]}, {"digits": [{**digit, "probability": 0.8}]})
    assert "DIFFER" in workflow.same_answers({"digits": [digit]}, {"digits": []})
