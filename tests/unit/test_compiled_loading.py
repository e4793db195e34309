"""Loading a compiled program: torch's loader unpacks into TMPDIR, which points at a private dir for that one call
and is as it was afterwards, set or not."""

from __future__ import annotations

import os

import pytest

from markit.core import compiled


@pytest.mark.parametrize("before", [None, "/srv/tmp"])
def test_tmpdir_is_private_during_the_load_and_as_it_was_after(monkeypatch, before):
    if before is None:
        monkeypatch.delenv("TMPDIR", raising=False)
    else:
        monkeypatch.setenv("TMPDIR", before)
    seen = []

    def load(path: str) -> str:
        seen.append(os.environ["TMPDIR"])
        return f"program {path}"

    monkeypatch.setattr(compiled.torch._inductor, "aoti_load_package", load)
    assert compiled.load_package("model.aoti.pt2") == "program model.aoti.pt2"
    assert os.environ.get("TMPDIR") == before
    assert os.path.basename(seen[0]).startswith("markit-aoti-") and not os.path.exists(seen[0])  # removed after


def test_tmpdir_is_restored_when_the_load_fails(monkeypatch):
    monkeypatch.setenv("TMPDIR", "/srv/tmp")

    def broken(path: str) -> None:
        raise RuntimeError("not a package")

    monkeypatch.setattr(compiled.torch._inductor, "aoti_load_package", broken)
    with pytest.raises(RuntimeError, match="not a package"):
        compiled.load_package("model.aoti.pt2")
    assert os.environ["TMPDIR"] == "/srv/tmp"
