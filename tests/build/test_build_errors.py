"""A user's mistake ends the build with one line naming it and exit 2 (a spec error) or 1 (the build failed),
never a traceback; --traceback shows one on request."""

from __future__ import annotations

import pytest

from markit.builder import BuildError, build_archive
from markit.builder.__main__ import main

from helpers import write_convention_spec


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(arg) for arg in argv])
    return code, capsys.readouterr().err


def test_a_missing_spec_file(capsys, tmp_path):
    code, err = run(capsys, tmp_path / "nope.yaml", "--output", tmp_path / "out")
    assert code == 2 and "build failed: spec file" in err and "Traceback" not in err


def test_an_output_path_that_is_a_file(capsys, tmp_path):
    spec = write_convention_spec(tmp_path / "spec")
    (tmp_path / "taken").write_text("")
    code, err = run(capsys, spec, "--output", tmp_path / "taken")
    assert code == 1 and f"build failed: --output {tmp_path / 'taken'}: cannot be the output directory" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("source", "message"), [
    ("import torch\nclass Scorer(torch.nn.Module:\n", "model.source: importing tiny_convention.py failed: SyntaxError"),
    ("raise RuntimeError('no GPU here')\n", "model.source: importing tiny_convention.py failed: RuntimeError: no GPU here"),
    ("import not_installed_anywhere\n",
     "model.source: importing tiny_convention.py failed: ModuleNotFoundError: No module named 'not_installed_anywhere'"),
    ("x = 1\n", "model.class 'Scorer': no 'Scorer' in the model source"),
])
def test_model_source_that_does_not_import_or_lacks_the_class(capsys, tmp_path, source, message):
    spec = write_convention_spec(tmp_path / "spec")
    (tmp_path / "spec" / "tiny_convention.py").write_text(source)
    code, err = run(capsys, spec, "--output", tmp_path / "out")
    assert code == 2 and f"build failed: {message}" in err and "Traceback" not in err
    assert not any((tmp_path / "out").iterdir())  # nothing left behind


def test_traceback_on_request(capsys, tmp_path):
    spec = write_convention_spec(tmp_path / "spec")
    (tmp_path / "spec" / "tiny_convention.py").write_text("raise RuntimeError('no GPU here')\n")
    code, err = run(capsys, spec, "--output", tmp_path / "out", "--traceback")
    assert code == 2 and "Traceback" in err and "RuntimeError: no GPU here" in err


def test_anything_unexpected_is_still_a_build_error_with_its_cause(tmp_path, monkeypatch):
    spec = write_convention_spec(tmp_path / "spec")
    monkeypatch.setattr("markit.builder.pipeline.stage", lambda *_: (_ for _ in ()).throw(KeyError("a bug")))
    with pytest.raises(BuildError, match=r"unexpected KeyError: 'a bug' \(python -m markit.builder --traceback shows where\)") as caught:
        build_archive(spec, tmp_path / "out", progress=lambda _: None)
    assert isinstance(caught.value.__cause__, KeyError)
