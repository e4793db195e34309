"""The KServe runtime's path from a store to loaded archives (discover, then load_archive, as its server does) refuses
every tamper variant, hidden zip entries included, signed or not, before any code of the archive runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from benchmarks.tampering import HIDDEN, TAMPERED, marker_for
from markit.archive.signing import TrustPolicy
from markit.builder import build_archive
from markit.engines.kserve.archives import discover, load_archive
from markit.errors import MarkitError

from helpers import quiet, write_key, write_tiny_spec

VARIANTS = {**TAMPERED, **HIDDEN}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrustPolicy]:
    root = tmp_path_factory.mktemp("signed")
    private, public = write_key(root, "publisher")
    mar = build_archive(write_tiny_spec(root / "spec"), root / "store", progress=quiet, sign_key=private).path
    (root / "trust.yaml").write_text(yaml.safe_dump({"signed_by": [str(public)]}))
    return mar, TrustPolicy.load(root / "trust.yaml")


def serve_store(store: Path, workdir: Path, policy: TrustPolicy | None) -> None:
    for path, info in discover(store):
        load_archive(path, info, workdir, policy)


@pytest.mark.parametrize("trusted", [True, False], ids=["signed, under the trust policy", "unsigned, integrity checks alone"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_is_refused_before_any_archive_code_runs(tiny_mar, signed, tmp_path, variant, trusted):
    store = tmp_path / "store"
    store.mkdir()
    tampered = VARIANTS[variant].make(signed[0] if trusted else tiny_mar, store / "tiny.mar")
    with pytest.raises(MarkitError, match=re.escape(VARIANTS[variant].message)):
        serve_store(store, tmp_path / "work", signed[1] if trusted else None)
    assert not marker_for(tampered).exists()
    assert not (tmp_path / "work" / "tiny").exists()


def test_the_untampered_archives_load(tiny_mar, signed, tmp_path):
    serve_store(tiny_mar.parent, tmp_path / "unsigned", None)
    serve_store(signed[0].parent, tmp_path / "signed", signed[1])
