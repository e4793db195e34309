"""Pipelines of tiny archives built and run in process: composition, glue, per-request failures naming the step,
pinning at build and at load, the edge check.

``tiny_chain``: a photo -> the tiny colour classifier -> the pipeline's own function -> the tiny scorer (convention).
``tiny_words``: a text -> its words -> a switch: a word of the lexicon table is looked up, any other spelled by the
tiny seq2seq archive (a fan-out, batched) -> each word with where its answer came from.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from markit.archive.verify import verify_mar
from markit.builder import BuildError, build_archive
from markit.core.manifest import identity_of
from markit.engines.torchserve.entry import file_sha256
from markit.offline import ArchiveLoadError, LocalArchive, LocalRequest

from helpers import (
    greedy_reference,
    png_bytes,
    quiet,
    reference_answer,
    tiny_seq2seq,
    write_convention_spec,
    write_pipeline_spec,
    write_seq2seq_spec,
    write_tiny_spec,
)

GREEDY = {"beam_width": 1, "num_candidates": 1, "max_length": 6, "length_penalty": 0.0,
          "maxima": {"beam_width": 6, "num_candidates": 6, "max_length": 8, "length_penalty": 2.0}}
LEXICON = {"dab": "D-A-B (from the lexicon)"}
CHAIN = [{"id": "colour", "run": "colour"},
         {"id": "features", "call": "features", "with": {"predictions": "colour.predictions"}},
         {"id": "score", "run": "score", "input": "features"}]
WORDS = [{"id": "words", "call": "words", "with": {"text": "request"}},
         {"id": "said", "each": "words", "switch": [{"name": "known", "when": {"in": "lexicon"}, "lookup": "lexicon"},
                                                    {"name": "spelled", "run": "seq"}]},
         {"id": "spoken", "call": "spoken", "with": {"words": "words", "said": "said"}}]


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The step archives: tiny (colour), scorer (convention), tiny_seq2seq (greedy by default) and another
    tiny_seq2seq (seed 1, for a swap)."""
    root = tmp_path_factory.mktemp("steps")
    other = tmp_path_factory.mktemp("other")
    made = {
        "colour": build_archive(write_tiny_spec(tmp_path_factory.mktemp("tiny")), root, progress=quiet).path,
        "score": build_archive(write_convention_spec(tmp_path_factory.mktemp("scorer")), root, progress=quiet).path,
        "seq": build_archive(write_seq2seq_spec(tmp_path_factory.mktemp("seq"), search=GREEDY), root, progress=quiet).path,
    }
    made["seq_seed1"] = build_archive(write_seq2seq_spec(tmp_path_factory.mktemp("seq1"), seed=1, search=GREEDY), other,
                                      progress=quiet).path
    return made


def expected_score() -> float:
    """The scorer's answer on the colour classifier's probabilities, computed without the pipeline: its linear layer
    (seed 0, as write_convention_spec makes it) on the top-4 probabilities, padded with 0, times its scale 0.5."""
    probabilities = [p["probability"] for p in reference_answer(0)["predictions"]] + [0.0]
    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 1)
    with torch.inference_mode():
        return float(linear(torch.tensor(probabilities) * 0.5)[0])


def spelled(word: str) -> str:
    return greedy_reference(tiny_seq2seq(0), word, 6)


@pytest.fixture(scope="module")
def chain(steps, tmp_path_factory) -> Path:
    golden = [("red.png", png_bytes((220, 20, 30)), {"score": round(expected_score(), 6),
                                                     "predictions": [{"label": reference_answer(0)["predictions"][0]["label"]}]})]
    spec = write_pipeline_spec(tmp_path_factory.mktemp("chain"), "tiny_chain", {"colour": steps["colour"], "score": steps["score"]},
                               CHAIN, {"predictions": "colour.predictions", "score": "score.result.score"}, golden)
    return build_archive(spec, tmp_path_factory.mktemp("chain-out"), progress=quiet).path


def words_spec(directory: Path, steps: dict[str, Path], graph: list | None = None, name: str = "tiny_words") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lexicon.json").write_text(json.dumps(LEXICON))
    expected = {"words": [{"word": "dab", "said": LEXICON["dab"], "from": "known"},
                          {"word": "cab", "said": spelled("cab"), "from": "spelled"}]}
    return write_pipeline_spec(directory, name, {"seq": steps["seq"]}, graph or WORDS, {"words": "spoken"},
                               [("words.txt", b"Dab cab", expected)], tables={"lexicon": "lexicon.json"})


@pytest.fixture(scope="module")
def words(steps, tmp_path_factory) -> Path:
    return build_archive(words_spec(tmp_path_factory.mktemp("words"), steps), tmp_path_factory.mktemp("words-out"),
                         progress=quiet).path


def text(value: str) -> LocalRequest:
    return LocalRequest.raw(value.encode(), "text/plain")


def test_a_chain_of_two_archives_answers_as_its_steps_do_one_after_the_other(chain):
    with LocalArchive(chain) as pipeline:
        [answer] = pipeline.predict([LocalRequest.raw(png_bytes((220, 20, 30)), "image/png")])
    assert answer.status == 200
    assert answer.body["score"] == pytest.approx(expected_score(), abs=1e-5)
    assert [{k: p[k] for k in ("label", "probability")} for p in answer.body["predictions"]] == reference_answer(0)["predictions"]
    assert answer.body["model"]["name"] == "tiny_chain"


def test_a_switch_looks_words_up_and_spells_the_rest_batched_through_the_step(words):
    with LocalArchive(words) as pipeline:
        answers = pipeline.predict([text("dab cab"), text("bad dab abc")])
        seq_core = pipeline.task_handler.steps["seq"].batch_core
    assert [a.status for a in answers] == [200, 200]
    assert answers[1].body["words"] == [{"word": "bad", "said": spelled("bad"), "from": "spelled"},
                                        {"word": "dab", "said": LEXICON["dab"], "from": "known"},
                                        {"word": "abc", "said": spelled("abc"), "from": "spelled"}]
    assert seq_core.task.task == "seq2seq"


def test_a_failing_step_names_itself_its_status_and_message_and_fails_only_its_request(words):
    with LocalArchive(words) as pipeline:
        good, bad_word, not_text = pipeline.predict([text("dab cab"), text("cab zed"),
                                                     LocalRequest.raw(b"\xff\xfe", "application/octet-stream")])
    assert good.status == 200 and good.body["words"][1]["said"] == spelled("cab")
    assert bad_word.status == 400
    assert bad_word.body["step"] == "seq" and bad_word.body["node"] == "said" and bad_word.body["step_status"] == 400
    assert "step 'seq' (node 'said') answered 400 Bad Request for item 1" in bad_word.body["message"]
    assert "'z'" in bad_word.body["message"]  # the step's own message: the character it cannot read
    assert not_text.status == 422 and not_text.body["node"] == "words"
    assert "words() refused its input: expected text, got bytes" in not_text.body["message"]


def test_an_optional_node_that_fails_is_reported_absent_and_its_readers_skipped(steps, tmp_path):
    graph = [WORDS[0], {**WORDS[1], "optional": True}, WORDS[2]]
    mar = build_archive(words_spec(tmp_path / "spec", steps, graph, "tiny_words_optional"), tmp_path / "out", progress=quiet).path
    with LocalArchive(mar) as pipeline:
        [answer] = pipeline.predict([text("cab zed")])
    assert answer.status == 200
    assert answer.body["words"] is None
    [said, spoken] = answer.body["absent"]
    assert said["node"] == "said" and said["status"] == 400 and "step 'seq'" in said["message"]
    assert spoken == {"node": "spoken", "skipped": "its input 'said' is absent"}


def test_a_bug_in_the_pipelines_own_function_fails_only_that_request_with_a_500_naming_the_node(steps, chain, tmp_path):
    graph = [CHAIN[0], {"id": "features", "call": "broken", "with": {"predictions": "colour.predictions"}}]
    spec = write_pipeline_spec(tmp_path / "spec", "tiny_broken", {"colour": steps["colour"]}, graph,
                               {"predictions": "colour.predictions"}, [("red.png", png_bytes((220, 20, 30)), {})])
    with pytest.raises(BuildError, match=r"status 500: .*node .{1,2}features.{1,2} \(call\): KeyError"):
        build_archive(spec, tmp_path / "out", progress=quiet)


def test_describe_lists_each_step_with_its_pinned_identity(chain, steps):
    with LocalArchive(chain) as pipeline:
        described = pipeline.describe()
    assert described["steps"]["colour"] == {"name": "tiny", "version": "1.0", "task": "image_classification",
                                            "identity": verify_mar(steps["colour"])}
    assert described["steps"]["score"]["identity"] == verify_mar(steps["score"])


def test_the_build_refuses_a_step_archive_other_than_the_pinned_one_naming_the_step(steps, tmp_path):
    spec = words_spec(tmp_path / "spec", steps)
    swapped = f"steps.seq.archive={steps['seq_seed1']}"
    with pytest.raises(BuildError, match=rf"steps\.seq: tiny_seq2seq\.mar has identity {verify_mar(steps['seq_seed1'])}, "
                                         r"and the spec pins sha256:[0-9a-f]{64}: refusing"):
        build_archive(spec, tmp_path / "out", progress=quiet, overrides=[swapped])
    assert not list((tmp_path / "out").glob("*.mar"))


@pytest.mark.parametrize(("graph", "output", "said"), [
    ([{"id": "colour", "run": "colour"}], {"top": "colour.prediction"},
     r"output.top: 'colour.prediction': node 'colour' runs step 'colour' \(task image_classification\), "
     r"whose answer has no field 'prediction'; it has predictions, model"),
    ([{"id": "colour", "run": "colour"}, {"id": "crops", "crop": "colour.predictions"}], {"c": "crops"},
     r"graph\[1\] \('crops'\): 'colour.predictions' gives json, and the node needs the boxes to crop"),
    ([{"id": "colour", "run": "colour"}, {"id": "again", "run": "seq", "input": "colour"}], {"c": "again"},
     r"graph\[1\] \('again'\): step 'seq' \(task seq2seq\) takes text, and 'colour' gives answer:image_classification"),
    ([{"id": "colour", "run": "colour"}, {"id": "later", "run": "colour", "input": "nothing"}], {"c": "later"},
     r"graph\[1\] \('later'\): 'nothing' is not the request or an earlier node's id"),
    ([{"id": "colour", "run": "nope"}], {"c": "colour"}, r"step 'nope' is not one of the pipeline's steps"),
])
def test_the_build_checks_every_edge_and_names_the_nodes_and_the_field(steps, tmp_path, graph, output, said):
    spec = write_pipeline_spec(tmp_path / "spec", "tiny_edges", {"colour": steps["colour"], "seq": steps["seq"]}, graph, output,
                               [("red.png", png_bytes((220, 20, 30)), {})])
    with pytest.raises(BuildError, match=said):
        build_archive(spec, tmp_path / "out", progress=quiet)


def rewritten(source: Path, target: Path, members: dict[str, bytes]) -> Path:
    """A copy of a pipeline archive with ``members`` replaced or added and its own manifest rehashed to match, as
    someone able to rewrite the whole archive would make it: only what the steps' own manifests say is left."""
    with zipfile.ZipFile(source) as original:
        contents = {info.filename: original.read(info) for info in original.infolist()}
    contents.update(members)
    manifest = json.loads(contents["manifest.json"])
    scratch = target.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    for name, data in members.items():
        (scratch / "member").write_bytes(data)
        manifest["files"][name] = file_sha256(scratch / "member")
    manifest["identity"] = identity_of(manifest)
    contents["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as copy:
        for name, data in contents.items():
            copy.writestr(name, data)
    return target


def test_a_tampered_step_inside_a_consistently_rehashed_pipeline_is_refused_naming_the_step(words, tmp_path):
    with zipfile.ZipFile(words) as archive:
        golden = next(name for name in archive.namelist() if name.startswith("steps/seq/golden/"))
        data = archive.read(golden)
    tampered = rewritten(words, tmp_path / "tiny_words.mar", {golden: data.replace(b"cab", b"cad")})
    with pytest.raises(ArchiveLoadError, match=r"step 'seq' \(steps/seq\): archive file 'golden/.*' was modified after build"):
        LocalArchive(tampered).__enter__()


def test_a_swapped_step_inside_a_consistently_rehashed_pipeline_is_refused_before_any_of_its_code_runs(words, steps, tmp_path):
    """Another archive, consistent in itself (its own manifest and identity recomputed) and carrying code of its own,
    put in the pipeline's place for the step: refused by the pin, and its code never imported."""
    marker = tmp_path / "foreign.ran"
    with zipfile.ZipFile(words) as archive:
        old = [name for name in archive.namelist() if name.startswith("steps/seq/")]
    with zipfile.ZipFile(steps["seq_seed1"]) as other:
        foreign = {name: other.read(name) for name in other.namelist()}
    foreign["runtime/__init__.py"] = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n".encode() + \
        foreign["runtime/__init__.py"]
    manifest = json.loads(foreign["manifest.json"])
    (tmp_path / "init.py").write_bytes(foreign["runtime/__init__.py"])
    manifest["files"]["runtime/__init__.py"] = file_sha256(tmp_path / "init.py")
    manifest["identity"] = identity_of(manifest)
    foreign["manifest.json"] = json.dumps(manifest).encode()
    members = {f"steps/seq/{name}": data for name, data in foreign.items()}
    assert set(members) == set(old)  # the same files, other contents
    swapped = rewritten(words, tmp_path / "tiny_words.mar", members)
    with pytest.raises(ArchiveLoadError, match=rf"step 'seq' \(steps/seq\): its identity is {manifest['identity']}, "
                                             r"and the pipeline pins sha256:[0-9a-f]{64}: refusing"):
        LocalArchive(swapped).__enter__()
    assert not marker.exists()
