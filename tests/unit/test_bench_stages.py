"""The stage benchmark (benchmarks/stages.py, served_stages.py, chart.py): each stage timed on its own, the image
decode split from the task's preprocessing, the model's own time told apart from the task's code around it (a
sequence generator's encoder, decoder steps and search), the engines' shares, and the chart."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from benchmarks.bodies import Body
from benchmarks.chart import draw_stage_chart
from benchmarks.served_stages import ENGINE_SHARES, EngineShare, _torchserve, render_served
from benchmarks.servers import FrontendCounters
from benchmarks.stages import StageTimes, _Clock, _one, render_stages


class Item:
    rows = None


class Slow:
    """A task whose stages sleep known times; its model is an attribute, as a task holds it."""

    def __init__(self, clock: _Clock) -> None:
        self.model = clock.wrap(lambda batch: time.sleep(0.02) or ["row"], "forward")

    def decode(self, payload, metrics):
        time.sleep(0.03)
        return Item()

    def forward(self, items):
        time.sleep(0.01)  # the task's own collating
        return self.model(items)

    def postprocess(self, row, item):
        time.sleep(0.01)
        return {"detections": [{"label": "x"}]}


class Generator(Slow):
    """A sequence generator: an encoder, then decoder steps, with search work between them."""

    def __init__(self, clock: _Clock) -> None:
        self.encode = clock.wrap(lambda ids: time.sleep(0.01), "encoder")
        self.decode_step = clock.wrap(lambda previous: time.sleep(0.005), "decoder steps")

    def forward(self, items):
        self.encode(items)
        for _ in range(3):
            self.decode_step(items)
            time.sleep(0.004)  # the search between steps
        return [["hypothesis"]]


def _png() -> Body:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, format="PNG")
    return Body(buffer.getvalue(), "image/png", "a png")


def test_an_image_request_splits_decode_preprocess_collate_forward_postprocess_encode():
    clock = _Clock()
    times, answer = _one(Slow(clock), None, None, _png(), clock)
    assert list(times) == ["decode", "preprocess", "collate", "forward", "postprocess", "encode"]
    assert answer == {"detections": [{"label": "x"}]}
    assert 0.02 <= times["forward"] < 0.04 and 0.01 <= times["collate"] < 0.02  # the model apart from the task's code
    assert times["preprocess"] + times["decode"] >= 0.03  # the task's decode holds both


def test_a_text_request_has_a_tokenizer_stage_and_no_image_decode():
    clock = _Clock()
    times, _ = _one(Slow(clock), None, None, Body(b'"hello"', "application/json", "text"), clock)
    assert list(times)[:2] == ["tokenize", "collate"] and "decode" not in times and times["tokenize"] >= 0.03


def test_a_sequence_generator_shows_encoder_decoder_steps_and_search():
    clock = _Clock()
    times, _ = _one(Generator(clock), None, None, Body(b'"word"', "application/json", "a word"), clock)
    assert list(times) == ["tokenize", "encoder", "decoder steps", "search", "postprocess", "encode"]
    assert 0.01 <= times["encoder"] < 0.02 and 0.015 <= times["decoder steps"] < 0.03 and 0.012 <= times["search"] < 0.025


def test_the_table_leaves_blank_the_stages_a_task_does_not_have():
    image = StageTimes("faces.mar", "object_detection", "group.png", {"decode": 3.0, "preprocess": 1.0, "forward": 40.0,
                                                                       "postprocess": 0.5, "encode": 0.5}, 3)
    text = StageTimes("minilm.mar", "text_embedding", "a text", {"tokenize": 0.2, "forward": 4.8}, 384)
    table = render_stages([image, text], 10)
    assert "| faces.mar | object_detection | group.png | 3.00 | 1.00 |  | 40.00 | 0.50 | 0.50 | 45.00 | 22.2 | 3 |" in table
    assert "| minilm.mar | text_embedding | a text |  |  | 0.20 | 4.80 |  |  | 5.00 | 200.0 | 384 |" in table


def test_torchserve_share_splits_the_wait_into_frontend_queue_and_worker_and_never_below_zero():
    stages = StageTimes("a.mar", "t", "b", {"forward": 5.0}, 1)
    counted = FrontendCounters(requests=10, latency_us=10 * 9000, queue_us=10 * 1000)  # 9 ms in the server, 1 queued
    share = _torchserve("a.mar", 10.0, counted, stages, 0)
    assert share.shares == pytest.approx({ENGINE_SHARES[0]: 1.0, ENGINE_SHARES[1]: 1.0, ENGINE_SHARES[2]: 3.0})
    slow_client = _torchserve("a.mar", 8.0, counted, stages, 0)  # a median below the server's mean: no negative share
    assert slow_client.shares[ENGINE_SHARES[0]] == 0.0
    row = render_served([stages], [share], 40)
    assert "| a.mar | TorchServe | 10.00 | 5.00 | 1.00 | 1.00 | 3.00 |  | 50 % |" in row


def test_the_chart_is_a_png_with_a_bar_per_archive_and_engine(tmp_path):
    stages = StageTimes("a.mar", "t", "b", {"decode": 1.0, "forward": 5.0}, 1)
    shares = [EngineShare("TorchServe", "a.mar", 9.0, {ENGINE_SHARES[0]: 3.0}, 0),
              EngineShare("KServe runtime", "a.mar", 7.0, {ENGINE_SHARES[3]: 1.0}, 0)]
    path = draw_stage_chart([stages], shares, tmp_path / "chart.png", "title")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.height > 45 + 3 * 26  # three bars and a legend
        assert image.getpixel((331, 46)) != (255, 255, 255)  # the first bar starts with a colored stage
