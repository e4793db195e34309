"""A private TorchServe survives another process taking one of its ports before it binds them."""

from __future__ import annotations

import socket

import pytest

from harness import TorchServeProcess

from helpers import REPO

pytestmark = pytest.mark.integration


def test_a_taken_port_restarts_the_server_on_fresh_ports(tmp_path):
    """gRPC binds last, seconds after the ports were chosen: the collision CI once hit (exit 0, no server)."""
    (tmp_path / "store").mkdir()
    server = TorchServeProcess(REPO / "config" / "config.properties", tmp_path / "store", tmp_path / "ts")
    taken = server.ports["grpc_inference"]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", taken))
        blocker.listen()
        with server:
            server.wait_listening()
            assert server.ports["grpc_inference"] != taken
            assert server.client.list_status() == 200
