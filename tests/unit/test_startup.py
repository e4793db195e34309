"""Reading from TorchServe's model_log.log which models' workers cannot start (the lines as TorchServe 0.12 writes them)."""

from __future__ import annotations

from markit.ops.startup import Failure, main, worker_failures

PREFIX = "2026-11-29T19:00:58,157 [INFO ] W-45900-{worker}-stdout MODEL_LOG - "


def death(worker: str, exception: str) -> list[str]:
    return [PREFIX.format(worker=worker) + text for text in (
        "Backend worker process died.", "Traceback (most recent call last):",
        '  File "/srv/models/abc/runtime/core/manifest.py", line 65, in verify_files', "    raise ArchiveError(", exception)]


TAMPERED = ("_archive_runtime_4cc3c37dbaa5d659.errors.ArchiveError: archive file 'index_to_name.json' was modified after "
            "build (sha256 a994b1046157…, manifest says a93067e22784…): refusing to serve a tampered archive")


def test_two_deaths_with_an_exception_name_the_model_the_exception_and_the_line():
    lines = [PREFIX.format(worker="tiny_1.0") + "Torch worker started.", *death("tiny_1.0", TAMPERED),
             PREFIX.format(worker="weather_seattle_2.1") + "model_name: weather_seattle, batchSize: 1", *death("tiny_1.0", TAMPERED)]
    [failure] = worker_failures(lines)
    assert failure == Failure("tiny", "1.0", 2, "ArchiveError: " + TAMPERED.split("ArchiveError: ", 1)[1], 12)


def test_one_death_or_a_worker_that_serves_is_not_a_failure():
    assert worker_failures(death("tiny_1.0", TAMPERED)) == []
    assert worker_failures([PREFIX.format(worker="tiny_1.0") + "Backend worker process died."] * 3) == []  # no exception logged


def test_the_command_prints_one_line_per_model_and_exits_1(tmp_path, capsys):
    (tmp_path / "model_log.log").write_text("\n".join([*death("a_b_1.0", "ModuleNotFoundError: No module named 'x'")] * 2) + "\n")
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("model a_b 1.0: its workers cannot start (2 tries): ModuleNotFoundError: No module named 'x'")
    assert main([str(tmp_path / "none")]) == 0
    size = (tmp_path / "model_log.log").stat().st_size
    assert main([str(tmp_path), "--after", str(size)]) == 0  # what an earlier server wrote does not count
