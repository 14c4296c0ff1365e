"""Micro-batching: concurrent requests share one predict call; one bad request fails alone."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import httpx

from cloudeploy.serving.batcher import MicroBatcher
from tests.serving.helpers import SLOW_ARGS, rows


def _gated_predict(calls: list[int], gate: threading.Event):
    def predict(batch):
        calls.append(len(batch))
        gate.wait(5)
        if any(row[0] < 0 for row in batch):
            raise ValueError("negative input")
        return [row[0] * 2 for row in batch]

    return predict


async def _submit_while_busy(batcher: MicroBatcher, gate: threading.Event, requests: list):
    """Hold the worker busy with a first request, queue ``requests``, then release it."""
    first = asyncio.create_task(batcher.submit([[1]]))
    await asyncio.sleep(0.05)
    queued = [asyncio.create_task(batcher.submit(rows)) for rows in requests]
    await asyncio.sleep(0.05)
    gate.set()
    return await asyncio.gather(first, *queued, return_exceptions=True)


def test_requests_queued_while_predicting_share_one_call():
    calls: list[int] = []
    gate = threading.Event()
    batcher = MicroBatcher(_gated_predict(calls, gate), inline_when_idle=False)
    results = asyncio.run(_submit_while_busy(batcher, gate, [[[2]], [[3], [4]], [[5]]]))
    batcher.close()
    assert results == [[2], [4], [6, 8], [10]]
    assert calls == [1, 4]


def test_a_failing_request_does_not_fail_the_requests_batched_with_it():
    calls: list[int] = []
    gate = threading.Event()
    batcher = MicroBatcher(_gated_predict(calls, gate), inline_when_idle=False)
    results = asyncio.run(_submit_while_busy(batcher, gate, [[[2]], [[-1]], [[3]]]))
    batcher.close()
    assert results[:2] == [[2], [4]] and results[3] == [6]
    assert isinstance(results[2], ValueError)


def test_max_batch_caps_the_rows_per_call():
    calls: list[int] = []
    gate = threading.Event()
    batcher = MicroBatcher(_gated_predict(calls, gate), max_batch=2, inline_when_idle=False)
    asyncio.run(_submit_while_busy(batcher, gate, [[[2]], [[3]], [[4]], [[5]], [[6]]]))
    batcher.close()
    assert calls == [1, 2, 2, 1]


def test_a_lone_request_is_predicted_without_waiting_for_the_window():
    calls: list[int] = []
    gate = threading.Event()
    gate.set()
    batcher = MicroBatcher(_gated_predict(calls, gate), batch_wait_ms=5000, inline_when_idle=False)

    async def one():
        return await asyncio.wait_for(batcher.submit([[7]]), timeout=2)

    assert asyncio.run(one()) == [14]
    batcher.close()


def test_a_batch_held_open_closes_at_the_first_quiet_gap():
    calls: list[int] = []
    gate = threading.Event()
    batcher = MicroBatcher(_gated_predict(calls, gate), batch_wait_ms=5000, inline_when_idle=False)
    asyncio.run(_submit_while_busy(batcher, gate, [[[2]], [[3]]]))  # the next batch may wait

    async def one_more():
        started = time.monotonic()
        await asyncio.wait_for(batcher.submit([[4]]), timeout=4)
        return time.monotonic() - started

    assert asyncio.run(one_more()) < 1.0
    batcher.close()


def _thread_recording_predict(threads: list[str]):
    def predict(batch):
        threads.append(threading.current_thread().name)
        return [row[0] for row in batch]

    return predict


def test_a_lone_request_is_predicted_inline_on_the_event_loop():
    threads: list[str] = []
    batcher = MicroBatcher(_thread_recording_predict(threads))

    async def one():
        return await batcher.submit([[3]]), threading.current_thread().name

    result, loop_thread = asyncio.run(one())
    assert result == [3]
    assert threads == [loop_thread]


def test_overlapping_requests_are_predicted_on_the_worker_thread():
    threads: list[str] = []
    batcher = MicroBatcher(_thread_recording_predict(threads))

    async def several():
        return await asyncio.gather(*(batcher.submit([[i]]) for i in range(5)))

    assert asyncio.run(several()) == [[0], [1], [2], [3], [4]]
    batcher.close()
    assert set(threads) == {"cloudeploy-predict"}


def test_concurrent_http_requests_are_coalesced_in_the_server(start_server, slow_package, breast_cancer):
    server = start_server(slow_package, *SLOW_ARGS)
    features, _ = breast_cancer
    sent = 12
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(sent) as pool:
        replies = list(pool.map(lambda i: client.post(f"{server.url}/predict", json={"instances": rows(features, i)}), range(sent)))
        metrics = client.get(f"{server.url}/metrics").text
    assert [reply.status_code for reply in replies] == [200] * sent
    calls = _sample(metrics, "cloudeploy_batch_requests_count")
    assert _sample(metrics, "cloudeploy_batch_requests_sum") == sent
    assert calls < sent


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")
