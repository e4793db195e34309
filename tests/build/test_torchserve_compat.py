"""TorchServe's own worker code path answers as markit's core does, request for request.

markit runs archives through ``markit.archive.open`` and the core (the KServe runtime, the offline
runner, the builder's golden check); a TorchServe worker runs the archive's entry module under
TorchServe's ``Service`` and ``Context``, whose frontend hands JSON bodies over decoded. For every
golden input and every bad-input probe of each task built here, alone and batched with a good request,
both paths give the same status and the same body."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bad_inputs import probes
from markit.builder import build_archive
from markit.core.golden import same_json
from markit.offline import LocalArchive, LocalRequest
from markit.offline.local_archive import content_type_for

from helpers import quiet, write_convention_spec, write_seq2seq_spec
from torchserve_worker import TorchServeWorker

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "tiny" / "labels.txt"  # any file: its answer is a refusal
SPECS = {"convention": write_convention_spec, "seq2seq": write_seq2seq_spec}


@pytest.fixture(scope="module", params=["image_classification", "convention", "seq2seq"])
def archive(request, tiny_mar, tmp_path_factory) -> Path:
    if request.param == "image_classification":
        return tiny_mar
    root = tmp_path_factory.mktemp(request.param)
    return build_archive(SPECS[request.param](root / "spec"), root / "store", progress=quiet).path


def requests_for(local: LocalArchive) -> list[list[LocalRequest]]:
    """Each golden input alone, then each probe of the task alone and with the first golden input."""
    spec = local.manifest["spec"]
    golden = [LocalRequest.raw((local.directory / example["input"]).read_bytes(), content_type_for(Path(example["input"])))
              for example in spec["golden"]]
    bad = [LocalRequest.raw(probe.body, probe.content_type) for probe in probes(spec["task"])]
    return [[request] for request in golden] + [[request] for request in bad] + [[request, golden[0]] for request in bad]


def test_both_paths_give_the_same_status_and_body(archive):
    with LocalArchive(archive) as local, TorchServeWorker(archive) as worker:
        batches = requests_for(local)
        differ = []
        for batch in batches:
            ours, theirs = local.predict(batch), worker.predict(batch)
            for request, one, other in zip(batch, ours, theirs, strict=True):
                if one.status != other.status or not same_json(one.body, _json(other.body), 1e-6):
                    differ.append((request.fields["body"][:60], one, other))
    assert len(batches) > 20 and differ == []


def _json(body):
    """TorchServe sends a str or bytes body as it is; the core's answers are JSON values."""
    return json.loads(body) if isinstance(body, (str, bytes)) else body


def test_the_offline_runner_imports_nothing_from_torchserve(tiny_mar):
    code = ("import sys; from markit.offline.predict import main; "
            f"main([{str(tiny_mar)!r}, {str(GOLDEN)!r}]); "
            "print(sorted(m for m in sys.modules if m == 'ts' or m.startswith('ts.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
