"""What golden replay costs at load (benchmarks/golden_cost.py), without an archive built: the archives found, the
worker's environment, the table, and archives that cannot be opened or loaded named instead of crashing the run."""

from __future__ import annotations

import pytest

from benchmarks import golden_cost
from benchmarks.golden_cost import Cost, Timing, archives_in, measure, render, worker_environment


def test_a_store_gives_its_archives_sorted_and_a_file_itself(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    for name in ("b.mar", "a.mar", "notes.txt"):
        (store / name).write_bytes(b"")
    (tmp_path / "c.mar").write_bytes(b"")
    assert archives_in([store, tmp_path / "c.mar"]) == [store / "a.mar", store / "b.mar", tmp_path / "c.mar"]


def test_a_missing_path_and_an_empty_store_are_named(tmp_path):
    with pytest.raises(ValueError, match="nowhere: no such archive or store directory"):
        archives_in([tmp_path / "nowhere"])
    with pytest.raises(ValueError, match=r"no \.mar in .*build_examples\.sh DIR"):
        archives_in([tmp_path])


def test_the_worker_environment_has_no_thread_variable_and_huge_pages_unless_set():
    environment = worker_environment({"OMP_NUM_THREADS": "4", "ARCHIVE_TORCH_THREADS": "2", "PATH": "/bin"})
    assert environment == {"THP_MEM_ALLOC_ENABLE": "1", "PATH": "/bin"}
    assert worker_environment({"THP_MEM_ALLOC_ENABLE": "0"}) == {"THP_MEM_ALLOC_ENABLE": "0"}


def test_an_archive_that_cannot_be_opened_is_a_line_not_a_crash(tmp_path):
    (tmp_path / "broken.mar").write_bytes(b"not a zip")
    cost = measure(tmp_path / "broken.mar", tmp_path / "unpacked", processes=1)
    assert cost.timings == [] and cost.error.startswith("not opened: broken.mar")
    assert "  broken.mar                 skipped: not opened: broken.mar" in render([cost], 1, "test machine")


def test_a_load_that_fails_in_its_process_says_why(tmp_path):
    with pytest.raises(RuntimeError, match=r"not loaded \(exit 1\): RuntimeError: manifest.json in .* cannot be read"):
        golden_cost._fresh_process(tmp_path)


def test_the_table_shows_medians_and_the_replay_share():
    timings = [Timing(900.0, 100.0, 40.0), Timing(1000.0, 300.0, 60.0), Timing(3000.0, 200.0, 50.0)]
    cost = Cost("ours.mar", "image_classification", 2, timings)
    assert cost.share == pytest.approx(200 / 1200)
    row = next(line for line in render([cost], 3, "test machine").splitlines() if "ours.mar" in line)
    assert row.split() == ["ours.mar", "image_classification", "2", "1000", "200", "50", "16.7%"]
