"""Worker threads: the archive's serving.torch_threads, or the deployer's ARCHIVE_TORCH_THREADS."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from markit.core.errors import ArchiveError
from markit.core.service import configure_threads
from markit.core.unpacked import UnpackedArchive


@pytest.fixture
def archive() -> UnpackedArchive:
    return UnpackedArchive(Path("."), {"spec": {"serving": {"torch_threads": 2}}})


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_archive_sets_the_threads(archive):
    assert configure_threads(archive, {}) == 2 and torch.get_num_threads() == 2


def test_the_environment_overrides_the_archive(archive):
    assert configure_threads(archive, {"ARCHIVE_TORCH_THREADS": "1"}) == 1 and torch.get_num_threads() == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_override_is_refused_naming_the_variable(archive, value):
    with pytest.raises(ArchiveError, match=f"ARCHIVE_TORCH_THREADS={value!r} is not a positive whole number"):
        configure_threads(archive, {"ARCHIVE_TORCH_THREADS": value})
