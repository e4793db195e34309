"""Ports for private servers come from outside the kernel's ephemeral range and never repeat."""

from __future__ import annotations

import random
import socket

from markit.ops.ports import ephemeral_range, free_ports


def test_ports_lie_below_the_ephemeral_range_and_are_distinct(tmp_path):
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("32768\t60999\n")
    ports = free_ports(5, random.Random(7), ranges)
    assert len(set(ports)) == 5
    assert all(10000 <= port < 32768 for port in ports)


def test_a_listening_port_is_never_chosen(tmp_path):
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("10040 60999\n")  # leaves a pool of 40 ports, one of them taken below
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 10007))
        taken.listen()
        for seed in range(20):
            assert 10007 not in free_ports(3, random.Random(seed), ranges)


def test_a_narrow_pool_falls_back_to_the_kernels_choice(tmp_path):
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("10005 60999\n")
    assert all(port >= 10005 for port in free_ports(3, random.Random(1), ranges))


def test_an_unreadable_range_means_linux_defaults(tmp_path):
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
    (tmp_path / "garbled").write_text("many\n")
    assert ephemeral_range(tmp_path / "garbled") == (32768, 60999)
