"""What config/config.properties enforces on a real TorchServe."""

from __future__ import annotations

import pytest
import requests

from tsclient import TorchServeProcess

from helpers import REPO

pytestmark = pytest.mark.integration


def test_model_registration_is_off(server):
    reply = server.client.register("efficientnet_lite0.mar")
    assert reply.status == 405, reply.body


def test_allowed_urls_keep_registration_to_the_model_store(tmp_path):
    """Even with the model API switched on, only archives in the store may be registered."""
    (tmp_path / "store").mkdir()
    with TorchServeProcess(REPO / "config" / "config.properties", tmp_path / "store", tmp_path / "ts",
                           overrides={"enable_model_api": "true"}) as server:
        server.wait_listening()
        for url in ("https://127.0.0.1:9/remote.mar", "file:///etc/passwd.mar"):
            reply = server.client.register(url)
            assert reply.status == 404, reply.body
            assert "does not match any allowed URL" in reply.body["message"]


def test_metrics_are_exposed_for_prometheus(server):
    response = requests.get(server.url("metrics") + "/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {server.client.token('inference')}"})
    assert response.status_code == 200
    assert "# TYPE" in response.text
