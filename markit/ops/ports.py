"""Free loopback ports that stay free until a server binds them.

A port from ``bind(("127.0.0.1", 0))`` lies in the kernel's ephemeral range, which every outgoing
connection also draws from: between choosing it and TorchServe binding it (seconds, since gRPC binds
last) a client connection may take it, and the server dies with "Address already in use" (seen in CI).
Ports below that range are never handed out implicitly, so only an explicit bind can take them.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

__all__ = ["EPHEMERAL_RANGE", "ephemeral_range", "free_port", "free_ports"]

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000  # below this lie the well-known and commonly configured service ports


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ``(first, last)`` ephemeral port; Linux's default where the file cannot be read."""
    try:
        first, last = (int(part) for part in path.read_text(encoding="ascii").split())
    except (OSError, ValueError):
        return 32768, 60999
    return first, last


def free_ports(count: int, rng: random.Random | None = None, path: Path = EPHEMERAL_RANGE) -> list[int]:
    """``count`` distinct loopback ports nothing listens on, outside the ephemeral range where it leaves room.

    All candidates stay bound until every one is chosen, so the list never repeats a port.
    """
    rng = rng or random.Random()
    first, _ = ephemeral_range(path)
    pool = range(LOWEST, first) if first - LOWEST >= 10 * count else None
    chosen: list[int] = []
    attempts = count * 50
    with contextlib.ExitStack() as held:
        while len(chosen) < count and attempts:
            attempts -= 1
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind(("127.0.0.1", rng.choice(pool) if pool else 0))
            except OSError:
                continue
            chosen.append(sock.getsockname()[1])
    if len(chosen) < count:
        raise OSError(f"found only {len(chosen)} of {count} free loopback ports below {first}")
    return chosen


def free_port() -> int:
    """One loopback port nothing listens on, outside the ephemeral range (see :func:`free_ports`)."""
    return free_ports(1)[0]
