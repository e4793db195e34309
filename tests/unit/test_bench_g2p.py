"""The G2P benchmark's scenarios: one word and many per request, greedy and beam 5, as the archive reads them."""

from __future__ import annotations

import json

from benchmarks.g2p import SCENARIOS, WORDS


def test_the_scenarios_are_greedy_and_beam_5_for_one_word_and_many():
    assert [(s.words, s.beam_width) for s in SCENARIOS] == [(1, 1), (1, 5), (len(WORDS), 1), (len(WORDS), 5)]
    one, many = json.loads(SCENARIOS[1].body()), json.loads(SCENARIOS[2].body())
    assert one == {"text": "pronunciation", "beam_width": 5, "num_candidates": 5}
    assert many["text"] == list(WORDS) and many["beam_width"] == many["num_candidates"] == 1
    assert all(word.isalpha() and word.islower() and len(word) <= 32 for word in WORDS)  # within the archive's symbols and budget
