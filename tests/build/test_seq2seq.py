"""The seq2seq task built for real: the tiny encoder-decoder shipped eager, as TorchScript, torch.export and an
AOTInductor package (each method its own program, checked against eager), answering alike; its symbol tables and
search settings in the manifest; request options within the declared maxima; bad texts refused alone."""

from __future__ import annotations

import json

import pytest
import yaml

from markit.builder import BuildError, SpecError, build_archive
from markit.offline import LocalArchive, LocalRequest

from helpers import build_formats, greedy_reference, json_request, mar_manifest, quiet, tiny_seq2seq, write_seq2seq_spec


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq")
    return build_formats(write_seq2seq_spec(root / "spec"), root, ("eager", "torchscript", "export", "aoti"))


def answer(mar, requests):
    with LocalArchive(mar) as archive:
        return [(r.status, r.body) for r in archive.predict(requests)]


def test_each_method_ships_as_its_own_program_checked_against_eager(archives):
    for fmt in ("torchscript", "export", "aoti"):
        model = mar_manifest(archives[fmt])["spec"]["model"]
        assert set(model["programs"]) == {"encode", "decode_step"} and model["format"] == fmt
        for program in model["programs"].values():
            assert program["conversion"]["max_abs_diff"] <= program["conversion"]["tolerance"]
        assert ("fallback" in model) == (fmt == "aoti") and "weights" not in model
    eager = mar_manifest(archives["eager"])["spec"]["model"]
    assert eager["format"] == "eager" and "programs" not in eager


def test_symbols_and_search_travel_in_the_manifest_and_describe_shows_them(archives):
    spec = mar_manifest(archives["eager"])["spec"]
    assert spec["search"] == {"beam_width": 3, "num_candidates": 2, "max_length": 6, "length_penalty": 0.0,
                              "maxima": {"beam_width": 6, "num_candidates": 6, "max_length": 8, "length_penalty": 2.0}}
    assert spec["symbols"]["input"]["file"] == "symbols/input.json" and spec["symbols"]["output"]["size"] == 6
    with LocalArchive(archives["eager"]) as archive:
        assert json.loads((archive.directory / "symbols" / "output.json").read_text()) == ["<s>", "</s>", "A", "B", "C", "D"]
        assert archive.describe()["spec"]["search"] == spec["search"]


def test_the_formats_answer_alike_for_any_batch_and_length(archives):
    requests = [json_request({"text": ["abc", "d", "abcdabcdabcd"], "beam_width": 5, "num_candidates": 4}), json_request("cab"),
                json_request({"text": "dd", "beam_width": 1, "num_candidates": 1})]
    eager = answer(archives["eager"], requests)
    assert all(status == 200 for status, _ in eager)
    for fmt in ("torchscript", "export", "aoti"):
        found = answer(archives[fmt], requests)
        assert [s for s, _ in found] == [s for s, _ in eager]
        for (_, mine), (_, reference) in zip(found, eager, strict=True):
            assert json.dumps(_outputs(mine)) == json.dumps(_outputs(reference)), fmt
    assert answer(archives["export"], requests[1:2])[0][1]["candidates"] == eager[1][1]["candidates"]  # a batch of one


def _outputs(answer):
    results = answer.get("results", [answer])
    return [[(c["output"], round(c["log_prob"], 4)) for c in result["candidates"]] for result in results]


def test_greedy_answers_are_the_reference_decoders(archives):
    model = tiny_seq2seq(0)
    words = ["a", "bad", "cabbage"[:5].replace("g", "d"), "ddddd"]
    [(status, found)] = answer(archives["export"], [json_request({"text": words, "beam_width": 1, "num_candidates": 1})])
    assert status == 200
    assert [r["candidates"][0]["output"] for r in found["results"]] == [greedy_reference(model, w, 6) for w in words]


def test_an_answer_holds_candidates_best_first_with_scores_and_the_search_used(archives):
    [(status, found)] = answer(archives["eager"], [json_request({"text": "abc", "num_candidates": 3, "length_penalty": 0.5})])
    assert status == 200 and found["input"] == "abc"
    assert found["search"] == {"beam_width": 3, "num_candidates": 3, "max_length": 6, "length_penalty": 0.5}
    scores = [c["score"] for c in found["candidates"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    for candidate in found["candidates"]:
        steps = len(candidate["symbols"]) + candidate["finished"]
        assert candidate["score"] == pytest.approx(candidate["log_prob"] / steps ** 0.5, abs=1e-5)
        assert candidate["output"] == " ".join(candidate["symbols"])
    assert found["model"]["name"] == "tiny_seq2seq"


@pytest.mark.parametrize(("options", "status", "message"), [
    ({"beam_width": 7}, 400, "beam_width must be a whole number from 1 to 6 (this model's search.maxima.beam_width), got 7"),
    ({"beam_width": 0}, 400, "beam_width must be a whole number from 1 to 6"),
    ({"num_candidates": 4}, 400, "num_candidates 4 is more than beam_width 3"),
    ({"max_length": 9}, 400, "max_length must be a whole number from 1 to 8"),
    ({"length_penalty": 2.5}, 400, "length_penalty must be a number from 0 to 2"),
    ({"length_penalty": -1}, 400, "length_penalty must be a number from 0 to 2"),
    ({"beam_width": "wide"}, 400, "beam_width must be a whole number from 1 to 6"),
    ({"beam_width": True}, 400, "beam_width must be a whole number"),
    ({"beam": 4}, 400, "unknown JSON key 'beam'"),
])
def test_an_option_beyond_its_bound_is_refused_alone_naming_it(archives, options, status, message):
    good = json_request("abc")
    found = answer(archives["eager"], [json_request({"text": "abc", **options}), good])
    assert found[0][0] == status and message in found[0][1]["message"], found[0]
    assert found[1][0] == 200 and found[1][1] == answer(archives["eager"], [good])[0][1]


def test_options_may_widen_and_narrow_the_search_within_the_maxima(archives):
    wide_request = json_request({"text": "abc", "beam_width": 6, "num_candidates": 6, "max_length": 8})
    narrow_request = json_request({"text": "abc", "beam_width": 1, "num_candidates": 1})
    [(_, wide), (_, narrow)] = answer(archives["eager"], [wide_request, narrow_request])
    assert len(wide["candidates"]) == 6 and len(narrow["candidates"]) == 1
    assert narrow["candidates"][0]["output"] == greedy_reference(tiny_seq2seq(0), "abc", 6)


@pytest.mark.parametrize(("text", "status", "message"), [
    ("abx", 400, "the text: 1 symbol(s) outside this model's input symbols: 'x'; this model reads only 'abcd'"),
    ("a b", 400, "outside this model's input symbols: ' '"),
    ("abcdabcdabcda", 413, "13 characters, more than this model's budget of 12 (budgets.text_chars)"),
    ("", 400, "empty"),
])
def test_a_text_outside_the_symbols_or_budgets_is_refused_alone(archives, text, status, message):
    found = answer(archives["eager"], [json_request(text), json_request("AB-C")])  # uppercase and '-' are declared (lowercase, map)
    assert found[0][0] == status and message in found[0][1]["message"], found[0]
    assert found[1][0] == 200


def test_a_list_names_the_text_at_fault(archives):
    [(status, found)] = answer(archives["eager"], [json_request(["abc", "q!"])])
    assert status == 400 and found["message"].startswith("texts[1]: 2 symbol(s) outside this model's input symbols: '!', 'q'")


def test_form_fields_carry_the_text_and_options(archives):
    request = LocalRequest(fields={"text": b"abc", "beam_width": b"1", "num_candidates": b"1"},
                           content_types={"text": "text/plain", "beam_width": "text/plain", "num_candidates": "text/plain"})
    [(status, found)] = answer(archives["eager"], [request])
    assert status == 200 and found["search"]["beam_width"] == 1 and len(found["candidates"]) == 1


def test_an_exported_encoder_takes_a_single_symbol_without_an_end_symbol(tmp_path):
    spec = write_seq2seq_spec(tmp_path / "spec", golden=[{"input": "greedy.json", "expected": {}}])
    mar = build_archive(spec, tmp_path / "store", progress=quiet, overrides=["model.format=export", "symbols.input.end=null"]).path
    assert mar_manifest(mar)["spec"]["symbols"]["input"]["end"] is None
    [(status, found)] = answer(mar, [json_request("b")])
    assert status == 200 and len(found["candidates"]) == 2  # a 1-wide batch would fail the program's length bound


def test_a_class_without_decode_step_is_refused(tmp_path):
    spec = write_seq2seq_spec(tmp_path / "spec")
    source = tmp_path / "spec" / "tiny_seq2seq.py"
    source.write_text(source.read_text().replace("def decode_step", "def step"))
    with pytest.raises(SpecError, match="TinySeq2Seq has no decode_step method; the seq2seq task calls encode"):
        build_archive(spec, tmp_path / "store", progress=quiet)


@pytest.mark.parametrize(("change", "message"), [
    ({"search": {"beam_width": 9, "num_candidates": 2, "max_length": 6, "maxima": {"beam_width": 8, "num_candidates": 8,
                                                                                    "max_length": 8}}},
     "search.beam_width: must be from 1 to 8, got 9"),
    ({"search": {"beam_width": 2, "num_candidates": 3, "max_length": 6, "maxima": {"beam_width": 8, "num_candidates": 8,
                                                                                    "max_length": 8}}},
     "search.num_candidates: 3 is more than search.beam_width 2"),
    ({"search": {"beam_width": 2, "num_candidates": 2, "max_length": 6}}, "search.maxima: required key is missing"),
    ({"symbols": {"input": {"file": "inputs.json", "pad": "<nothing>"}, "output": {"file": "outputs.json", "start": "<s>", "end": "</s>"}}},
     "symbols.input.pad: '<nothing>' is not in the symbol table symbols.input.file"),
    ({"symbols": {"input": {"file": "inputs.json", "pad": "<pad>"}, "output": {"file": "outputs.json", "start": "<s>", "end": "</s>",
                                                                                "never": ["</s>"]}}},
     "symbols.output.never: lists the end symbol '</s>'; a search could never finish"),
    ({"symbols": {"input": {"file": "inputs.json", "pad": "<pad>", "map": {"x": "y"}},
                  "output": {"file": "outputs.json", "start": "<s>", "end": "</s>"}}},
     "symbols.input.map.x: map a symbol to one of the table's symbols, got 'y'"),
    ({"preprocess": {}}, "preprocess: not used by task seq2seq (only by image_classification, object_detection, semantic_segmentation)"),
])
def test_spec_mistakes_name_the_key(tmp_path, change, message):
    spec = write_seq2seq_spec(tmp_path / "spec")
    data = yaml.safe_load(spec.read_text())
    data.update(change)
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises((SpecError, BuildError), match=message.replace("(", r"\(").replace(")", r"\)")):
        build_archive(spec, tmp_path / "store", progress=quiet)
