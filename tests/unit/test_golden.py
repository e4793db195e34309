from markit.core.golden import differences, same_json

ANSWER = {"predictions": [{"label": "espresso", "probability": 0.95}, {"label": "cup", "probability": 0.01}], "model": {"name": "m"}}


def test_partial_expectation_matches():
    assert differences({"predictions": [{"label": "espresso", "probability": 0.94}]}, ANSWER, 0.02) == []


def test_differences_are_readable():
    lines = differences({"predictions": [{"label": "cup", "probability": 0.5}], "extra": 1}, ANSWER, 0.02)
    assert lines == [
        "predictions[0].label: expected 'cup', got 'espresso'",
        "predictions[0].probability: expected 0.5 ± 0.02, got 0.95 (off by 0.45)",
        "extra: missing from the answer",
    ]


def test_list_too_short_and_type_mismatch():
    assert differences([1, 2, 3], [1], 0) == ["(answer): expected a list of at least 3 items, got [1]"]
    assert differences({"a": 1}, [1], 0) == ["(answer): expected an object, got [1]"]
    assert differences(True, 1, 0) == ["(answer): expected True, got 1"]


def test_same_json_is_symmetric_and_tolerant():
    assert same_json({"a": [1.0, 2.0]}, {"a": [1.0000001, 2.0]}, 1e-5)
    assert not same_json({"a": [1.0]}, {"a": [1.0, 2.0]}, 1e-5)   # extra items count
    assert not same_json({"a": 1}, {"a": 1, "b": 2}, 0)             # extra keys count
