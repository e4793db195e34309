"""The stock-detector comparison (benchmarks/detectors.py): the same-answers check that must pass before
anything is timed, in the stock handler's own answer format."""

from __future__ import annotations

import pytest

from benchmarks.detectors import _same
from benchmarks.stock import StockError

OURS = {"detections": [{"label": "4", "score": 0.92, "box": {"x1": 10.94, "y1": 55.48, "x2": 32.27, "y2": 83.61}},
                       {"label": "2", "score": 0.9, "box": {"x1": 9.12, "y1": 0.1, "x2": 21.76, "y2": 19.3}}]}


def test_the_same_digits_and_boxes_in_the_stock_format_pass():
    stock = [{"2": [9.121, 0.1, 21.76, 19.3], "score": 0.9}, {"4": [10.94, 55.48, 32.27, 83.6], "score": 0.92}]
    assert _same(OURS, stock, "torch x") == "same answers: 2 digits, boxes within 0.1 px (stock venv: torch x)"


@pytest.mark.parametrize("stock", [
    [{"2": [9.12, 0.1, 21.76, 19.3], "score": 0.9}],                                              # one digit missing
    [{"2": [9.12, 0.1, 21.76, 19.3], "score": 0.9}, {"7": [10.94, 55.48, 32.27, 83.61], "score": 0.92}],  # another label
    [{"2": [9.12, 0.1, 21.76, 19.3], "score": 0.9}, {"4": [12.0, 55.48, 32.27, 83.61], "score": 0.92}],   # a box 1 px off
])
def test_a_different_answer_stops_the_comparison(stock):
    with pytest.raises(StockError, match="the stock handler's answer differs from ours"):
        _same(OURS, stock, "torch x")
