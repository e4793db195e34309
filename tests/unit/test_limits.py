"""The request size limit is one number: the deploy files that cannot import it say the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from markit.client.properties import read_properties
from markit.core.limits import REQUEST_BYTES
from markit.ops.torchserve_on_kserve import CONFIG_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["config/config.properties", "deploy/container/config.properties", "deploy/kubernetes/config.properties"])
def test_config_files_use_the_shared_request_limit(path):
    properties = read_properties(ROOT / path)
    assert int(properties["max_request_size"]) == int(properties["max_response_size"]) == REQUEST_BYTES


def test_kserve_layout_config_uses_the_shared_request_limit(tmp_path):
    (tmp_path / "config.properties").write_text(CONFIG_TEMPLATE, encoding="utf-8")
    properties = read_properties(tmp_path / "config.properties")
    assert int(properties["max_request_size"]) == REQUEST_BYTES
