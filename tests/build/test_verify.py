"""Archives checked before TorchServe unpacks them (markit.ops.verify), and by the worker once unpacked
(UnpackedArchive.open): each tamper variant is refused, naming the entry."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import pytest

from benchmarks.tampering import CHANGED, LABELS, TAMPERED, relabel, rewrite
from markit.ops.mar_file import MarFileError
from markit.ops.verify import main, verify_mar
from markit.runtime.errors import ArchiveError
from markit.runtime.unpacked_archive import UnpackedArchive

from helpers import unpacked


def test_a_built_archive_passes_with_its_identity(tiny_mar):
    with zipfile.ZipFile(tiny_mar) as archive:
        assert verify_mar(tiny_mar) == json.loads(archive.read("manifest.json"))["identity"]


@pytest.mark.parametrize("variant", list(TAMPERED))
def test_each_tamper_variant_is_refused_naming_the_entry(tiny_mar, tmp_path, variant):
    change, message = TAMPERED[variant]
    tampered = rewrite(tiny_mar, tmp_path / "tiny.mar", change)
    with pytest.raises(MarFileError) as caught:
        verify_mar(tampered)
    assert message in str(caught.value)


def test_a_consistent_edit_passes_these_checks(tiny_mar, tmp_path):
    """Honest limit: hashes and identity recomputed after an edit pass; only a signature can refuse it."""
    edited = rewrite(tiny_mar, tmp_path / "tiny.mar", lambda m, i: relabel(m, i, rehash=True, reidentify=True))
    assert verify_mar(edited) != verify_mar(tiny_mar)


def test_the_command_names_each_refused_archive_and_exits_2(tiny_mar, tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    os.link(tiny_mar, store / "good.mar")
    rewrite(tiny_mar, store / "bad.mar", relabel)
    assert main([str(store)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("good.mar: sha256:") and err.startswith("verify: bad.mar: 'index_to_name.json' was modified")


@pytest.mark.parametrize(("change", "message"), [
    (lambda root: (root / "extra.py").write_text("x"), "archive file 'extra.py' is not listed in manifest.json"),
    (lambda root: (root / "model" / "link").symlink_to(root / "manifest.json"), "archive entry 'model/link' is a symbolic link"),
    (lambda root: (root / "runtime" / "__pycache__").mkdir(exist_ok=True) or (root / "runtime" / "__pycache__" / "x.pyc").write_bytes(b""),
     None),
])
def test_the_worker_refuses_what_the_manifest_does_not_list(tiny_mar, tmp_path, change, message):
    root = unpacked(tiny_mar, tmp_path / "unpacked")
    change(root)
    if message is None:  # bytecode Python writes once a worker has imported the code
        UnpackedArchive.open(root)
        return
    with pytest.raises(ArchiveError, match=message):
        UnpackedArchive.open(root)


def test_the_worker_refuses_a_manifest_whose_identity_does_not_match(tiny_mar, tmp_path):
    root = unpacked(tiny_mar, tmp_path / "unpacked")
    (root / LABELS).write_bytes(CHANGED)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"][LABELS] = hashlib.sha256(CHANGED).hexdigest()
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="the manifest was edited after build"):
        UnpackedArchive.open(root)
