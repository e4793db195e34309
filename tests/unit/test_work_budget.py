"""The seq2seq work budget, ``budgets.beam_steps``: a request's texts x beam_width x max_length (summed over a KServe
request's instances) over it is a 413 naming the budget and the numbers, before the search runs, and its
batch-mates are answered. The handler over the tiny encoder-decoder of the tests, without a build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from markit.builder.errors import SpecError
from markit.core.batch import BatchCore
from markit.core.exchange import Request, Response
from markit.core.loading import LoadedModel
from markit.core.payload import Payload
from markit.core.unpacked import UnpackedArchive
from markit.tasks.seq2seq import build as seq2seq
from markit.tasks.seq2seq.beam_search import Search
from markit.tasks.seq2seq.handler import SequenceGenerator

from helpers import SEQ_INPUTS, SEQ_OUTPUTS, SEQ_SEARCH, complete_spec, tiny_seq2seq

BUDGET = 100  # beam steps; the archive's search: beam_width 3 x max_length 6 = 18 a text, maxima 6 and 8


class Searches:
    """The tiny model's decoder step, counting its calls (a refused request must run none)."""

    def __init__(self) -> None:
        self.model = tiny_seq2seq()
        self.steps = 0

    def decode_step(self, previous: Any, states: Any) -> Any:
        self.steps += 1
        return self.model.decode_step(previous, states)


@pytest.fixture
def searches() -> Searches:
    return Searches()


@pytest.fixture
def handler(tmp_path: Path, searches: Searches) -> BatchCore:
    (tmp_path / "in.json").write_text(json.dumps(SEQ_INPUTS))
    (tmp_path / "out.json").write_text(json.dumps(SEQ_OUTPUTS))
    spec = complete_spec({"name": "tiny_seq2seq", "version": "1.0", "task": "seq2seq",
            "symbols": {"input": {"file": "in.json", "size": len(SEQ_INPUTS), "split": "characters", "lowercase": True, "pad": "<pad>",
                                  "end": "</s>", "map": {}},
                        "output": {"file": "out.json", "size": len(SEQ_OUTPUTS), "start": "<s>", "end": "</s>", "never": ["<s>"],
                                   "join": " "}},
            "search": SEQ_SEARCH,
            "budgets": {"request_bytes": 1 << 20, "instances": 8, "texts": 8, "text_chars": 12, "beam_steps": BUDGET}})
    model = LoadedModel(forward=None, programs={"encode": searches.model.encode, "decode_step": searches.decode_step})
    return BatchCore(SequenceGenerator(UnpackedArchive(tmp_path, {"spec": spec, "identity": "sha256:t", "files": {}}), model))


def answer(handler: SequenceGenerator, *bodies: Any) -> list[Response]:
    return handler.answer([Request(Payload({"body": json.dumps(body).encode()}, {"body": "application/json"}), f"r{i}")
                           for i, body in enumerate(bodies)])


def test_a_request_over_the_budget_is_a_413_naming_it_and_its_batch_mate_is_answered(handler, searches):
    over, within = answer(handler, {"text": ["abc"] * 8, "beam_width": 6, "max_length": 8}, {"text": "abc"})
    assert (over.status, over.phrase) == (413, "Payload Too Large")
    assert over.body["message"] == ("the request (8 texts x beam_width 6 x max_length 8): 384 beam steps, more than this "
                                    f"model's budget of {BUDGET} (budgets.beam_steps); send fewer texts per request, or "
                                    "ask for a smaller beam_width or max_length")
    assert within.status == 200 and within.body["input"] == "abc" and within.body["candidates"]
    assert within.body["search"]["beam_width"] == 3 and searches.steps <= 6  # the search ran for the one within only


def test_a_request_at_the_budget_is_answered(handler):
    [at] = answer(handler, {"text": ["abc", "dcba"], "beam_width": 6, "max_length": 8})  # 2 x 6 x 8 = 96
    assert at.status == 200 and [result["input"] for result in at.body["results"]] == ["abc", "dcba"]


def test_the_defaults_count_when_a_request_gives_no_options(handler):
    [over] = answer(handler, ["abc"] * 6)  # 6 texts x beam_width 3 x max_length 6 = 108
    assert over.status == 413 and "(6 texts x beam_width 3 x max_length 6): 108 beam steps" in over.body["message"]


@pytest.mark.parametrize("body", [
    {"instances": [{"text": "abc", "beam_width": 6, "max_length": 8}] * 3},
    {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["abc", "b", "cab"]}],
     "parameters": {"beam_width": 6, "max_length": 8}},
], ids=["v1", "v2"])
def test_a_kserve_requests_instances_share_the_budget(handler, searches, body):
    over, within = answer(handler, body, {"text": "b"})
    assert over.status == 413 and over.body["error"].startswith(
        f"the request's 3 instances together: 144 beam steps, more than this model's budget of {BUDGET} (budgets.beam_steps)")
    assert within.status == 200 and within.body["input"] == "b"


def test_the_build_refuses_a_budget_below_one_text_at_the_default_search():
    seq2seq._check_work_budget(Search(8, 8, 20, 0.0), 160)  # one text at the defaults fits exactly
    with pytest.raises(SpecError, match=r"budgets.beam_steps: 159 is less than one text at the default search "
                                        r"\(search.beam_width 8 x search.max_length 20 = 160\)"):
        seq2seq._check_work_budget(Search(8, 8, 20, 0.0), 159)


def test_the_default_budget_holds_a_full_request_at_the_g2p_defaults_but_not_at_its_maxima():
    budget = seq2seq.BUDGETS["beam_steps"]
    assert 64 * 8 * 20 <= budget < 64 * 32 * 32  # examples/g2p_en/spec.yaml: 64 words at beam 8 to 20; maxima 32 and 32
