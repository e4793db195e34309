"""Workers x torch threads of a model store against the CPUs: read from the archives themselves."""

from __future__ import annotations

from markit.ops.capacity import ArchiveLoad, main, report, store_load

from helpers import stand_in_mar


def test_store_load_reads_each_archives_serving(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    stand_in_mar(store / "tiny.mar")
    stand_in_mar(store / "busy.mar", "busy", torch_threads=2, minWorkers=3, maxWorkers=3)
    loads = {load.name: load for load in store_load(store)}
    assert loads["busy"] == ArchiveLoad("busy", 3, 2) and loads["busy"].threads == 6
    assert loads["tiny"].torch_threads == 1
    assert main([str(store), "--cpus", "6", "--strict"]) == 1  # 6 + tiny's workers
    assert main([str(store), "--cpus", "64", "--strict"]) == 0


def test_report_says_whether_the_threads_fit():
    loads = [ArchiveLoad("a", 2, 1), ArchiveLoad("b", 1, 1)]
    text, fits = report(loads, cpus=3)
    assert fits and text.splitlines()[-1] == "capacity: 3 worker thread(s) over 2 archive(s) on 3 CPU(s): fits"
    text, fits = report(loads, cpus=2)
    assert not fits and "more than the CPUs" in text


def test_a_store_without_archives_fits_trivially(tmp_path, capsys):
    assert main([str(tmp_path), "--strict"]) == 0
    assert "0 worker thread(s) over 0 archive(s)" in capsys.readouterr().out


def test_an_unreadable_archive_is_named(tmp_path, capsys):
    (tmp_path / "broken.mar").write_bytes(b"not a zip")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == "capacity: broken.mar: 9 bytes, too short for a zip\n"
