"""The gateway under failures of its own path: a replica dropping a connection, and a bug
inside the gateway. Neither may become an unversioned 500 nor close the client's
connection (a guardrail counts failures per version; an unversioned one is blamed on
no one and breaks the promise that the serving version fails nothing).

The gateway and a hand-written replica run on 127.0.0.1 in this process.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from cloudeploy.providers.local.gateway import app as gateway_app
from cloudeploy.providers.local.gateway.metrics import VersionMetrics
from cloudeploy.providers.local.gateway.routing import Replica, RoutingTable

ANSWER = b'{"predictions": [1]}'


class DroppingReplica:
    """A raw HTTP/1.1 server that closes its first ``drops`` connections unanswered, then answers 200."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn, self.connections <= self.drops), daemon=True).start()

    def _handle(self, conn: socket.socket, drop: bool) -> None:
        with conn:
            while _read_request(conn):
                if drop:
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))

    def close(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return True


@dataclass
class OneVersion:
    """The part of the supervisor the gateway's request path reads: a routing table."""

    port: int
    table: RoutingTable = field(init=False)

    def __post_init__(self) -> None:
        replica = Replica(version="v1", port=self.port, pid=0)
        self.table = RoutingTable(replicas={"v1": (replica,)}, traffic={"v1": 100})


@pytest.fixture
def gateway():
    """``gateway(replica_port)``: the gateway's URL, routing all traffic to one replica."""
    servers = []

    def start(port: int) -> str:
        app = gateway_app.create_gateway_app(OneVersion(port), VersionMetrics(), endpoint="e")
        listener = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
        threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True).start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        servers.append((server, listener))
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for server, listener in servers:
        server.should_exit = True
        listener.close()


@pytest.fixture
def replica():
    """``replica(drops)``: a :class:`DroppingReplica`, closed after the test."""
    made = []

    def make(drops: int) -> DroppingReplica:
        made.append(DroppingReplica(drops))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_a_version_with_one_replica_survives_a_dropped_connection(gateway, replica):
    dropping = replica(drops=1)
    answer = httpx.post(f"{gateway(dropping.port)}/predict", json={"instances": [[1.0]]}, timeout=10)

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-cloudeploy-version"] == "v1"
    assert dropping.connections == 2  # dropped once, answered on the retry


def test_a_replica_that_drops_every_try_is_a_503_of_its_version(gateway, replica):
    dropping = replica(drops=10)
    answer = httpx.post(f"{gateway(dropping.port)}/predict", json={"instances": [[1.0]]}, timeout=10)

    assert answer.status_code == 503
    assert answer.headers["x-cloudeploy-version"] == "v1"
    assert dropping.connections == gateway_app.FORWARD_ATTEMPTS


def test_a_bug_in_the_gateway_is_an_error_of_the_version_and_the_connection_stays_open(gateway, replica, monkeypatch):
    answering = replica(drops=0)
    calls = {"n": 0}
    real_parsed = gateway_app._parsed

    def broken_once(answer):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return real_parsed(answer)

    monkeypatch.setattr(gateway_app, "_parsed", broken_once)
    url = gateway(answering.port)
    with httpx.Client(timeout=10) as client:
        first = client.post(f"{url}/predict", json={"instances": [[1.0]]})
        second = client.post(f"{url}/predict", json={"instances": [[1.0]]})
        connections = client._transport._pool.connections

    assert first.status_code == 500
    assert first.headers["x-cloudeploy-version"] == "v1"
    assert first.json()["error"]["status"] == "INTERNAL"
    assert "connection" not in first.headers or first.headers["connection"] != "close"
    assert second.status_code == 200
    assert len(connections) == 1  # the same connection carried both
