"""Loading an eager model from an unpacked archive, without a build: source by path, factory and
kwargs, artifacts as values or paths, weights that must fit exactly, and refusals that name the key."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file

from markit.core.errors import ArchiveError
from markit.core.loading import load_model

from helpers import REPO

TINY = REPO / "tests" / "data" / "tiny"


@pytest.fixture
def archive_dir(tmp_path):
    """An unpacked archive's model/ and artifacts/ for the tiny Scorer, with weights that fit."""
    (tmp_path / "model").mkdir()
    (tmp_path / "artifacts").mkdir()
    shutil.copyfile(TINY / "tiny_convention.py", tmp_path / "model" / "tiny_convention.py")
    (tmp_path / "artifacts" / "scale.json").write_text('{"scale": 0.5}')
    torch.manual_seed(0)
    save_file(torch.nn.Linear(4, 1).state_dict(), str(tmp_path / "model" / "raw.safetensors"))  # no "linear." prefix
    linear = torch.nn.Linear(4, 1)
    save_file({f"linear.{k}": v.contiguous() for k, v in linear.state_dict().items()}, str(tmp_path / "model" / "weights.safetensors"))
    return tmp_path


def section(**changes):
    base = {"format": "eager", "source": "model/tiny_convention.py", "class": "Scorer", "kwargs": {"offset": 1.0},
            "weights": "model/weights.safetensors",
            "artifacts": {"scale": {"file": "artifacts/scale.json"}, "label": {"value": "tiny-score"}}}
    return {**base, **changes}


def test_an_eager_model_is_built_from_its_source_kwargs_artifacts_and_weights(archive_dir):
    loaded = load_model(archive_dir, section())
    scorer = loaded.instance
    assert loaded.format == "eager" and loaded.forward is scorer and not scorer.training
    assert scorer.scale == 0.5 and scorer.label == "tiny-score" and scorer.offset == 1.0  # artifact file, value, kwarg
    weights = dict(scorer.linear.state_dict())
    with torch.no_grad():
        assert torch.allclose(scorer(torch.ones(1, 4)), torch.ones(1, 4) @ weights["weight"].T + weights["bias"] + 1.0)


def test_weights_that_do_not_fit_are_refused_naming_file_and_class(archive_dir):
    with pytest.raises(ArchiveError, match=r"weights 'model/raw\.safetensors' do not fit 'Scorer'"):
        load_model(archive_dir, section(weights="model/raw.safetensors"))


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": "onnx2"}, r"manifest spec\.model\.format 'onnx2' is not one of"),
    ({"source": "model/missing.py"}, r"model source 'missing\.py' is not a Python file or package in the archive"),
    ({"class": "Nope"}, r"spec\.model\.class 'Nope': no 'Nope' in the model source"),
    ({"class": "json"}, r"spec\.model\.class 'json' is a module, not a class or factory"),
])
def test_a_broken_model_section_is_refused_naming_the_key(archive_dir, changes, message):
    with pytest.raises(ArchiveError, match=message):
        load_model(archive_dir, section(**changes))


def test_an_eager_model_without_source_is_refused(archive_dir):
    with pytest.raises(ArchiveError, match="an eager model needs 'source' and 'class'"):
        load_model(archive_dir, {"format": "eager", "weights": "model/weights.safetensors"})
