"""The stage benchmark (benchmarks/stages.py): each stage timed on its own, the image decode split from the
task's preprocessing, and a table that names the archive and the body."""

from __future__ import annotations

import io
import time

from PIL import Image

from benchmarks.stages import STAGES, StageTimes, _one, render_stages


class Slow:
    """A task whose stages sleep known times."""

    def decode(self, payload, metrics):
        time.sleep(0.03)
        return "item"

    def forward(self, items):
        time.sleep(0.02)
        return ["row"]

    def postprocess(self, row, item):
        time.sleep(0.01)
        return {"detections": [{"label": "x"}]}


def test_each_stage_is_timed_on_its_own_and_preprocess_excludes_the_decode():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, format="PNG")
    times, answer = _one(Slow(), None, None, buffer.getvalue())
    assert set(times) == set(STAGES) and answer == {"detections": [{"label": "x"}]}
    assert 0.02 <= times["forward"] < 0.05 and 0.01 <= times["postprocess"] < 0.04
    assert times["preprocess"] + times["decode"] >= 0.03  # the task's decode holds both


def test_the_table_names_archive_and_body_with_each_stage_and_the_rate():
    row = StageTimes("faces.mar", "group.png (158 KiB, image/png)", dict(zip(STAGES, (3.0, 1.0, 40.0, 0.5, 0.5), strict=True)), 3)
    table = render_stages([row], 10)
    assert "| faces.mar | group.png (158 KiB, image/png) | 3.00 | 1.00 | 40.00 | 0.50 | 0.50 | 45.00 | 22.2 | 3 |" in table
