"""The LitServe peer without its venv: its command line, its settings, the bodies (taken by our archive's own
parsing), the comparison that must fail loudly on a wrong answer, and starting and stopping a process group."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.bodies import Body
from benchmarks.litserve_peer import (
    API_KEY_HEADER,
    SCRIPTS,
    LitServeError,
    LitServePeer,
    PeerSettings,
    _stop,
    _wait_ready,
    body_for,
    compare_classifications,
    compare_embeddings,
    group_pids,
    image_body,
    kind_of,
    peer_settings,
    server_command,
    text_body,
)
from markit.core.budgets import Budgets
from markit.core.payload import Payload, binary_input, text_input
from markit.ops.ports import free_port

SERVING = {"workers": 2, "batch_size": 2, "max_batch_delay": 1, "response_timeout": 60, "torch_threads": 1}
OURS = {"predictions": [{"label": "espresso", "index": 967, "probability": 0.951055},
                        {"label": "cup", "index": 968, "probability": 0.01499},
                        {"label": "eggnog", "index": 969, "probability": 0.004}]}


def _theirs(**changed: float) -> dict:
    """LitServe's answer: ours' labels with unrounded probabilities, some changed, and one more label."""
    rows = [{**row, "probability": changed.get(row["label"], row["probability"] + 2e-7)} for row in OURS["predictions"]]
    return {"predictions": [*rows, {"label": "coffee mug", "index": 504, "probability": 0.003}]}


def test_the_settings_are_the_archives_serving_section_unless_given():
    assert peer_settings(SERVING) == PeerSettings(workers=2, batch_size=2, batch_timeout_ms=1.0)
    assert peer_settings(SERVING, workers=1, batch_timeout_ms=0) == PeerSettings(1, 2, 0.0)


@pytest.mark.parametrize("given", [{"workers": 0}, {"batch_size": 0}, {"batch_timeout_ms": -1.0}])
def test_impossible_settings_are_refused_by_name(given):
    name = next(iter(given))
    with pytest.raises(LitServeError, match=f"{name}="):
        peer_settings(SERVING, **given)


def test_the_command_runs_the_kinds_script_with_every_setting(tmp_path):
    command = server_command("image", Path("/v/bin/python"), tmp_path / "archive", 18000, PeerSettings(2, 4, 1.5))
    assert command == ["/v/bin/python", str(SCRIPTS["image"]), "--archive-dir", str(tmp_path / "archive"), "--port", "18000",
                       "--workers", "2", "--batch-size", "4", "--batch-timeout-ms", "1.5"]
    assert Path(command[1]).is_file() and Path(server_command("text", Path("p"), tmp_path, 1, PeerSettings(1, 1, 0))[1]).is_file()
    with pytest.raises(LitServeError, match="kind 'audio'"):
        server_command("audio", Path("p"), tmp_path, 1, PeerSettings(1, 1, 0))


def _jpeg() -> Body:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 120, 40)).save(buffer, format="JPEG")
    return Body(buffer.getvalue(), "image/jpeg", "a small JPEG")


def test_the_image_body_is_base64_json_that_our_archive_reads_back_to_the_photo():
    photo = _jpeg()
    body = image_body(photo)
    assert body.content_type == "application/json"
    assert base64.b64decode(json.loads(body.data)["data"]) == photo.data  # what LitServe's decode_request reads
    found = binary_input(Payload({"body": body.data}, {"body": body.content_type}), data_keys=("image",), option_keys=("top_k",))
    assert found.data == photo.data


def test_the_text_body_is_a_json_string_that_our_archive_reads_as_one_text():
    body = text_body("Stocks fell sharply.")
    assert json.loads(body.data) == "Stocks fell sharply."
    texts, single = text_input(Payload({"body": body.data}, {"body": body.content_type}),
                               Budgets(request_bytes=1 << 20, texts=64, text_chars=1000))
    assert (texts, single) == (["Stocks fell sharply."], True)
    assert json.loads(body_for("text").data) == json.loads(text_body().data)
    with pytest.raises(LitServeError, match="kind 'audio'"):
        body_for("audio")


def test_matching_answers_report_the_largest_probability_difference():
    agreement = compare_classifications(OURS, _theirs(cup=0.0152))
    assert agreement.value == pytest.approx(0.0152 - 0.01499)
    assert "'espresso'" in agreement.summary() and "3 labels" in agreement.summary()


@pytest.mark.parametrize(("theirs", "message"), [
    ({"predictions": [{"label": "cup", "index": 968, "probability": 0.96}, *OURS["predictions"]]}, "top-1 differs"),
    (_theirs(espresso=0.949), "differ by up to 2.06e-03"),
    ({"predictions": OURS["predictions"][:2]}, r"lacks \['eggnog'\]"),
    ({"predictions": []}, "LitServe answered no predictions"),
    ({"detail": "Internal server error"}, "LitServe answered no predictions"),
])
def test_a_wrong_classification_fails_loudly(theirs, message):
    with pytest.raises(LitServeError, match=message):
        compare_classifications(OURS, theirs)


def test_embeddings_agree_by_cosine_similarity():
    ours = {"embedding": [0.6, 0.8, 0.0]}
    agreement = compare_embeddings(ours, {"embedding": [0.6, 0.8, 0.005]})
    assert agreement.value == pytest.approx(1 / (1 + 0.005**2) ** 0.5)
    assert agreement.summary() == "cosine similarity 0.99998750; 3 dimensions"


@pytest.mark.parametrize(("theirs", "message"), [
    ({"embedding": [0.8, 0.6, 0.0]}, r"cosine similarity 0\.960000 .* below 0\.9999"),
    ({"embedding": [-0.6, -0.8, 0.0]}, "below"),
    ({"embedding": [0.6, 0.8]}, "different lengths: ours 3, LitServe 2"),
    ({"embedding": [0.0, 0.0, 0.0]}, "below"),
    ({"predictions": []}, "LitServe answered no embedding"),
])
def test_a_wrong_embedding_fails_loudly(theirs, message):
    with pytest.raises(LitServeError, match=message):
        compare_embeddings({"embedding": [0.6, 0.8, 0.0]}, theirs)


def _mar(path: Path, task: str) -> Path:
    with zipfile.ZipFile(path, "w") as mar:
        mar.writestr("manifest.json", json.dumps({"spec": {"task": task}}))
    return path


def test_the_kind_follows_the_archives_task(tmp_path):
    assert kind_of(_mar(tmp_path / "a.mar", "image_classification")) == "image"
    assert kind_of(_mar(tmp_path / "b.mar", "text_embedding")) == "text"
    with pytest.raises(LitServeError, match="task 'object_detection' has no LitServe peer"):
        kind_of(_mar(tmp_path / "c.mar", "object_detection"))
    with pytest.raises(LitServeError, match=r"no readable manifest\.json"):
        kind_of(tmp_path / "missing.mar")


def test_the_process_tree_is_the_servers_process_group(tmp_path):
    for pid, state, group in ((10, "S", 10), (11, "R", 10), (12, "S", 99), (13, "S", 10), (14, "Z", 10)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (python (x)) {state} 1 {group} {group} 0 -1 4194560 0 0\n")
    (tmp_path / "self").mkdir()
    assert group_pids(10, tmp_path) == [10, 11, 13]  # a zombie is not a process of the server any more


def test_the_peer_sends_its_key_in_litserves_header_and_no_bearer_token(tmp_path):
    peer = LitServePeer("image", process=None, port=18001, api_key="k3y", settings=PeerSettings(1, 1, 0), log=tmp_path / "log")
    assert (peer.url, peer.headers, peer.token) == ("http://127.0.0.1:18001/predict", {API_KEY_HEADER: "k3y"}, None)
    assert peer.log_tail() == ""


def _session(tmp_path: Path, script: str) -> LitServePeer:
    """A shell in a session of its own standing in for the server, its output in the peer's log."""
    log = tmp_path / "litserve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(["sh", "-c", script], stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    return LitServePeer("image", process, free_port(), "k3y", PeerSettings(1, 1, 0), log)


def test_a_server_that_exits_before_it_is_ready_fails_with_its_log(tmp_path):
    peer = _session(tmp_path, "echo 'RuntimeError: One or more workers failed to start'; exit 3")
    with pytest.raises(LitServeError, match=r"(?s)exited with 3 before it was ready.*workers failed to start"):
        _wait_ready(peer, timeout=30)


def test_a_server_that_never_answers_times_out_with_its_log(tmp_path):
    peer = _session(tmp_path, "echo loading; sleep 30")
    try:
        with pytest.raises(LitServeError, match=r"(?s)not ready after 1 s.*loading"):
            _wait_ready(peer, timeout=1)
    finally:
        _stop(peer.process)


def test_stopping_ends_the_whole_process_group(tmp_path):
    peer = _session(tmp_path, "sleep 30 & sleep 30 & trap '' TERM; wait")  # the parent ignores SIGTERM
    deadline = time.monotonic() + 10
    while len(peer.pids) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(peer.pids) == 3
    _stop(peer.process, timeout=2)
    assert peer.pids == [] and peer.process.returncode is not None
