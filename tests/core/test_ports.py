"""Ports for our servers come from below the OS's ephemeral range, so no bind to port 0 and
no outgoing connection on the machine can take one between its pick and its bind."""

from __future__ import annotations

import socket

from cloudeploy import ports


def test_a_picked_port_is_free_and_below_the_ephemeral_range():
    low = ports._ephemeral_low()
    picked = {ports.free_port() for _ in range(20)}
    for port in picked:
        if low - ports.PICK_RANGE >= 1024:
            assert low - ports.PICK_RANGE <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    assert len(picked) > 1  # drawn at random, not the same port each time


def test_the_os_picks_where_the_range_is_unknown(monkeypatch):
    monkeypatch.setattr(ports, "_ephemeral_low", lambda: 0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.free_port()))


def test_a_taken_port_is_never_picked(monkeypatch):
    low = 30_000
    monkeypatch.setattr(ports, "_ephemeral_low", lambda: low)
    monkeypatch.setattr(ports, "PICK_RANGE", 2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", low - 2))
        taken.listen()
        assert low - 2 not in {ports.free_port() for _ in range(10)}
