"""Alerts: the log always, and a webhook with retries that never raises into the caller."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cloudeploy.monitoring.alerts import send_alerts, send_alerts_in_background
from cloudeploy.monitoring.result import FeatureResult, MonitoringResult


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers ``statuses`` in turn, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []

        async def hook(request: Request) -> JSONResponse:
            self.bodies.append(await request.json())
            status = self.statuses.pop(0) if self.statuses else 200
            return JSONResponse({"ok": status < 400}, status_code=status)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/hook"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


def result_with(*scores: float) -> MonitoringResult:
    features = tuple(
        FeatureResult(
            name=f"f{i}",
            metric="jensen_shannon",
            kind="skew",
            baseline_counts=(1, 1),
            serving_counts=(1, 1),
            score=score,
            threshold=0.3,
            bin_edges=(0.0, 1.0, 2.0),
        )
        for i, score in enumerate(scores)
    )
    return MonitoringResult(kind="skew", features=features, labels={"endpoint": "houses"})


def test_every_breach_is_logged_at_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="cloudeploy.monitoring.alerts"):
        delivery = send_alerts(result_with(0.5, 0.1, 0.9))
    assert delivery.logged == 2
    assert "f0" in caplog.text and "f2" in caplog.text and "f1" not in caplog.text


def test_the_webhook_gets_the_breached_features_as_json():
    with Receiver([]) as receiver:
        delivery = send_alerts(result_with(0.5, 0.1), webhook_url=receiver.url)
    assert delivery.delivered and delivery.attempts == 1
    [body] = receiver.bodies
    assert body["kind"] == "skew" and body["labels"] == {"endpoint": "houses"}
    assert [f["name"] for f in body["breached"]] == ["f0"]


def test_a_failing_webhook_is_retried_until_it_answers():
    with Receiver([503, 500]) as receiver:
        delivery = send_alerts(result_with(0.5), webhook_url=receiver.url, retries=3, backoff=0.01)
    assert delivery.delivered and delivery.attempts == 3 and len(receiver.bodies) == 3


def test_a_webhook_refusing_the_payload_is_not_retried():
    with Receiver([400]) as receiver:
        delivery = send_alerts(result_with(0.5), webhook_url=receiver.url, retries=3, backoff=0.01)
    assert delivery.delivered is False and delivery.attempts == 1 and delivery.status_code == 400


def test_an_unreachable_webhook_is_reported_not_raised():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/hook"  # bound, never listening
        delivery = send_alerts(
            result_with(0.5), webhook_url=url, retries=2, backoff=0.01, timeout=1
        )
    assert delivery.delivered is False and delivery.attempts == 2
    assert len(delivery.errors) == 2


def test_nothing_is_posted_when_nothing_is_breached():
    with Receiver([]) as receiver:
        delivery = send_alerts(result_with(0.1), webhook_url=receiver.url)
    assert receiver.bodies == [] and delivery.delivered is None


def test_background_sending_returns_at_once_with_a_future():
    with Receiver([]) as receiver:
        future = send_alerts_in_background(result_with(0.5), webhook_url=receiver.url)
        assert future.result(timeout=10).delivered


@pytest.mark.parametrize("url", ["not a url", "http://"])
def test_a_broken_url_is_reported_not_raised(url):
    delivery = send_alerts(result_with(0.5), webhook_url=url, retries=1)
    assert delivery.delivered is False and delivery.errors
