"""Several SO_REUSEPORT worker processes behind one port."""

from __future__ import annotations

import concurrent.futures
import signal

import httpx
import pytest

from tests.serving.helpers import rows


def test_two_workers_serve_one_port_and_sum_their_metrics(start_server, forest_package, breast_cancer, forest):
    server = start_server(forest_package, "--workers", 2)
    features, _ = breast_cancer
    sent = 40

    def call(i: int) -> httpx.Response:
        # A new connection per request, so the kernel spreads them over both listeners.
        return httpx.post(f"{server.url}/predict", json={"instances": rows(features, i)})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(call, range(sent)))
    assert [reply.json()["predictions"][0] for reply in replies] == forest.predict(features.iloc[:sent]).tolist()
    metrics = httpx.get(f"{server.url}/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("cloudeploy_requests_total{") and 'code="200"' in line
    )
    assert counted == sent


def test_sigterm_stops_every_worker_and_exits_0(start_server, forest_package):
    server = start_server(forest_package, "--workers", 2)
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(60) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/livez")
