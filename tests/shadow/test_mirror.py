"""The local gateway's mirror: copies leave the answer path, a full queue drops and counts them."""

from __future__ import annotations

import asyncio
import time

from cloudeploy.providers.local.gateway.mirror import Mirror, parse_predictions
from cloudeploy.providers.local.gateway.routing import RoutingTable


class _Supervisor:
    table = RoutingTable()  # no replicas: workers record the copies as unanswered 503s


def offer(mirror: Mirror, version: str = "v1") -> None:
    mirror.offer(version=version, path="/predict", body=b'{"instances": [[1, 2]]}', headers={}, status=200,
                 latency_ms=1.0, content=b'{"predictions": [1]}', content_type="application/json")


def test_a_full_queue_drops_copies_and_counts_them_without_blocking():
    async def scenario():
        mirror = Mirror(_Supervisor(), queue_size=5, workers=1)
        await mirror.start("v2", 1.0)
        started = time.perf_counter()
        for _ in range(200):
            offer(mirror)  # the worker gets no turn meanwhile: the queue fills
        elapsed = time.perf_counter() - started
        await mirror.stop()
        return mirror, elapsed

    mirror, elapsed = asyncio.run(scenario())
    assert (mirror.mirrored, mirror.dropped) == (5, 195)
    assert elapsed < 0.5


def test_requests_answered_by_the_candidate_itself_are_not_copied_and_share_samples():
    async def scenario():
        mirror = Mirror(_Supervisor(), queue_size=10_000, workers=1)
        await mirror.start("v2", 0.25)
        for _ in range(2000):
            offer(mirror)
        for _ in range(100):
            offer(mirror, version="v2")
        await mirror.stop()
        return mirror

    mirror = asyncio.run(scenario())
    assert 350 < mirror.mirrored < 650  # a quarter of 2000, none of v2's own
    assert mirror.dropped == 0


def test_nothing_is_copied_once_stopped():
    async def scenario():
        mirror = Mirror(_Supervisor())
        await mirror.start("v2", 1.0)
        await mirror.stop()
        offer(mirror)
        return mirror

    assert asyncio.run(scenario()).mirrored == 0


def test_predictions_are_read_from_json_and_csv_answers():
    assert parse_predictions(b'{"predictions": [0, 1]}', "application/json") == [0, 1]
    assert parse_predictions(b"[2.5, 3.5]", "application/json") == [2.5, 3.5]
    assert parse_predictions(b"1\n0\n", "text/csv") == [1, 0]
    assert parse_predictions(b"not json", "application/json") is None
