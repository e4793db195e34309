"""Pins on real archives: build_mar.sh pins what it builds, pin.sh re-pins a checked archive, and the checks every
engine is given archives through (markit.archive.unpack) refuse a consistent edit unless it is re-pinned or signed."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from benchmarks.tampering import relabel, rewrite
from markit.archive.pins import PinError, Pins
from markit.archive.pins import main as pin_main
from markit.archive.signing import TrustPolicy
from markit.archive.unpack import main as unpack_main
from markit.archive.unpack import unpack_store
from markit.archive.verify import verify_mar
from markit.builder import build_archive
from markit.builder.__main__ import main as build_main

from helpers import quiet, write_key, write_tiny_spec


def edited(tiny_mar, tmp_path):
    """tiny.mar with a label changed, its hash and the identity recomputed: every check of the archive itself passes."""
    (tmp_path / "store").mkdir(exist_ok=True)
    return rewrite(tiny_mar, tmp_path / "store" / "tiny.mar", lambda m, i: relabel(m, i, rehash=True, reidentify=True))


def test_build_pins_what_it_built(tmp_path, capsys):
    spec = write_tiny_spec(tmp_path / "spec")
    assert build_main([str(spec), "--output", str(tmp_path / "out"), "--pins", str(tmp_path / "pins.json")]) == 0
    identity = verify_mar(tmp_path / "out" / "tiny.mar")
    assert json.loads((tmp_path / "pins.json").read_text()) == {"identities": {"tiny": identity}}
    assert f"pinned in {tmp_path / 'pins.json'}" in capsys.readouterr().out


def test_a_consistent_edit_is_refused_by_the_pins_and_served_once_re_pinned(tiny_mar, tmp_path, capsys):
    pins = tmp_path / "pins.json"
    Pins(pins, {"tiny": verify_mar(tiny_mar)}).save()
    changed = edited(tiny_mar, tmp_path)
    with pytest.raises(PinError, match=re.escape(f"tiny.mar: model 'tiny' is pinned to {verify_mar(tiny_mar)} in {pins}")):
        unpack_store(tmp_path / "store", tmp_path / "served", None, Pins.load(pins))
    assert not (tmp_path / "served").exists()
    assert unpack_main([str(tmp_path / "store"), "--into", str(tmp_path / "served"), "--pins", str(pins)]) == 2
    assert "./scripts/pin.sh tiny.mar" in capsys.readouterr().err
    assert pin_main([str(changed), "--pins", str(pins)]) == 0
    assert f"tiny pinned to {verify_mar(changed)} (was {verify_mar(tiny_mar)})" in capsys.readouterr().out
    [served] = unpack_store(tmp_path / "store", tmp_path / "served", None, Pins.load(pins))
    assert served.trusted == "pinned" and served.identity == verify_mar(changed)


def test_a_trusted_signature_serves_an_archive_the_pins_do_not_know(tmp_path):
    private, public = write_key(tmp_path, "publisher")
    signed = build_archive(write_tiny_spec(tmp_path / "spec"), tmp_path / "store", progress=quiet, sign_key=private).path
    (tmp_path / "trust.yaml").write_text(yaml.safe_dump({"signed_by": [str(public)]}))
    pins = Pins(tmp_path / "pins.json", {"tiny": "sha256:" + "0" * 64})
    [served] = unpack_store(signed.parent, tmp_path / "served", TrustPolicy.load(tmp_path / "trust.yaml"), pins)
    assert served.trusted == "signed, unpinned"


def test_pinning_refuses_an_archive_that_fails_its_checks(tiny_mar, tmp_path, capsys):
    (tmp_path / "store").mkdir()
    rewrite(tiny_mar, tmp_path / "store" / "tiny.mar", relabel)  # the hash no longer matches: not pinnable
    assert pin_main([str(tmp_path / "store"), "--pins", str(tmp_path / "pins.json")]) == 2
    assert "'index_to_name.json' was modified after build" in capsys.readouterr().err
    assert not (tmp_path / "pins.json").exists()


def test_first_start_pins_only_when_there_is_no_pin_file(tiny_mar, tmp_path, capsys):
    pins = tmp_path / "pins.json"
    assert pin_main([str(tiny_mar.parent), "--pins", str(pins), "--first-start"]) == 0
    assert "first start: 1 model(s) pinned" in capsys.readouterr().err
    changed = edited(tiny_mar, tmp_path)
    assert pin_main([str(changed.parent), "--pins", str(pins), "--first-start"]) == 0  # a pin file exists: nothing changes
    assert Pins.load(pins).identities == {"tiny": verify_mar(tiny_mar)}
