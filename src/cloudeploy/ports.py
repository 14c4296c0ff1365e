"""Ports for servers started on 127.0.0.1: picked where the OS does not hand out its own."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: How many ports below the OS's ephemeral range :func:`free_port` draws from.
PICK_RANGE = 12_000


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now, for a server that binds it a moment later (a gateway, a replica).

    Drawn at random below the OS's ephemeral range
    (``/proc/sys/net/ipv4/ip_local_port_range``): the ports the OS hands out
    itself (a bind to port 0, the source port of every outgoing connection) come
    from that range, so a port picked there can be taken by any process on the
    machine before our server binds it. Below it only another such pick can
    collide, one chance in thousands. Where the range is unknown, the OS picks.
    """
    low = _ephemeral_low()
    if low - PICK_RANGE >= 1024:
        rng = random.SystemRandom()
        for _ in range(50):
            port = rng.randrange(low - PICK_RANGE, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _ephemeral_low() -> int:
    """The first port of the OS's ephemeral range (0 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
