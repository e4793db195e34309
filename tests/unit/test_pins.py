"""The pin file (markit.archive.pins): read strictly, written whole and sorted, and what it says of an archive."""

from __future__ import annotations

import json

import pytest

from markit.archive.pins import PinError, Pins
from markit.errors import UsageError

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_a_missing_file_pins_nothing_unless_it_must_exist(tmp_path):
    assert Pins.load(tmp_path / "pins.json").identities == {}
    with pytest.raises(UsageError, match=r"pins.json does not exist; pin the archives you serve first: ./scripts/pin.sh"):
        Pins.load(tmp_path / "pins.json", must_exist=True)


@pytest.mark.parametrize("text", ["[", '{"identities": {"tiny": "md5:x"}}', '{"identities": [], "x": 1}', '{"tiny": "' + A + '"}'])
def test_a_malformed_file_is_named(tmp_path, text):
    (tmp_path / "pins.json").write_text(text)
    with pytest.raises(UsageError, match=r"pin file .*pins\.json"):
        Pins.load(tmp_path / "pins.json")


def test_saving_adds_to_what_is_there_sorted(tmp_path):
    Pins(tmp_path / "config" / "pins.json", {"zeta": A}).save()
    Pins.load(tmp_path / "config" / "pins.json").with_identities({"alpha": B, "zeta": B}).save()
    text = (tmp_path / "config" / "pins.json").read_text()
    assert json.loads(text) == {"identities": {"alpha": B, "zeta": B}}
    assert text.index("alpha") < text.index("zeta") and [p.name for p in (tmp_path / "config").iterdir()] == ["pins.json"]


def test_a_model_serves_when_pinned_to_its_identity_or_signed():
    pins = Pins(None, {"tiny": A})
    assert pins.check("tiny.mar", "tiny", A, signed=False) == "pinned"
    assert pins.check("tiny.mar", "tiny", B, signed=True) == "unpinned"
    assert pins.check("new.mar", "new", B, signed=True) == "unpinned"


@pytest.mark.parametrize(("model", "said"), [("tiny", f"is pinned to {A}"), ("new", "is not pinned")])
def test_a_changed_or_unknown_model_is_refused_naming_the_fix(model, said):
    with pytest.raises(PinError) as caught:
        Pins("pins.json", {"tiny": A}).check(f"{model}.mar", model, B, signed=False)
    assert str(caught.value).startswith(f"{model}.mar: model '{model}' {said} in pins.json, and this archive's identity is {B}")
    assert f"./scripts/pin.sh {model}.mar" in str(caught.value) and caught.value.exit_code == 2
