"""The builder writes what markit.ops reads of a .mar: name, version, serving settings, torch threads, format
(the unit tests of markit.ops use stand-in archives holding only those files)."""

from __future__ import annotations

from markit.archive.mar_file import MarInfo, read_mar
from markit.builder import build_archive
from markit.ops.capacity import ArchiveLoad, store_load

from helpers import quiet, write_tiny_spec


def test_what_ops_reads_is_what_the_spec_said(tmp_path):
    spec = write_tiny_spec(tmp_path / "spec", name="busy", version="2.1",
                           serving={"workers": 3, "torch_threads": 2, "batch_size": 8, "max_batch_delay": 5, "response_timeout": 60})
    mar = build_archive(spec, tmp_path / "store", progress=quiet).path
    assert read_mar(mar) == MarInfo(name="busy", version="2.1", mar_name="busy.mar", runtime="python",
                                    settings={"minWorkers": 3, "maxWorkers": 3, "batchSize": 8, "maxBatchDelay": 5,
                                              "responseTimeout": 60},
                                    torch_threads=2, model_format="eager")
    assert store_load(tmp_path / "store") == [ArchiveLoad("busy", 3, 2)]
