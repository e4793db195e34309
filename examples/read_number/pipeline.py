"""The read_number pipeline's own glue (its ``source``): the digits a page shows, read left to right."""

from __future__ import annotations

from typing import Any


def read_left_to_right(detections: list[dict[str, Any]], digits: list[dict[str, Any]]) -> dict[str, Any]:
    """The classifier's digit for each detected box (``digits[i]`` answers the crop of ``detections[i]``), ordered by
    the box's centre from left to right, and the number they make."""
    if len(detections) != len(digits):
        raise ValueError(f"{len(detections)} boxes but {len(digits)} digits read")
    read = [{"digit": answer["result"]["digit"], "probability": answer["result"]["probability"], "box": found["box"],
             "detector_label": found["label"]} for found, answer in zip(detections, digits, strict=True)]
    read.sort(key=lambda item: item["box"]["x1"] + item["box"]["x2"])
    return {"number": "".join(str(item["digit"]) for item in read), "digits": read}


NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_names(number: str) -> list[str]:
    """The number's digits as English words, for a step that says them (the benchmark's three-step pipeline)."""
    return [NAMES[int(digit)] for digit in number]
