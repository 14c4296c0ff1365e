"""The gateway's own limits: bodies refused early without buffering, an admission
limit, readable early answers, memory bounded, and only loopback callers.

Bounded in size and time, on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx
import psutil
import pytest

import cloudeploy
from cloudeploy.providers.local.gateway.app import MAX_BODY_BYTES
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from cloudeploy.testing.zoo import Slow, baseline_classifier

pytestmark = pytest.mark.slow

MiB = 1 << 20


def _gateway(local_provider, name):
    row = local_provider.store.endpoint(name)
    return psutil.Process(row.gateway_pid), f"http://{row.host}:{row.port}"


def _chunks(total: int, size: int = MiB):
    block = b"1" * size
    for _ in range(total // size):
        yield block


def test_a_300_mb_body_is_refused_early_and_memory_stays_bounded(home, local_provider):
    cloudeploy.deploy(fitted_classifier(0), name="big-body", provider=local_provider)
    gateway, url = _gateway(local_provider, "big-body")
    before = gateway.memory_info().rss

    declared = httpx.post(f"{url}/predict", content=_chunks(300 * MiB),
                          headers={"content-length": str(300 * MiB), "content-type": "application/json"},
                          timeout=60)
    chunked = httpx.post(f"{url}/predict", content=_chunks(300 * MiB),
                         headers={"content-type": "application/json"}, timeout=60)

    assert declared.status_code == 413 and str(MAX_BODY_BYTES) in declared.json()["error"]["message"]
    assert chunked.status_code == 413
    assert gateway.memory_info().rss - before < 100 * MiB
    # Still serving.
    assert httpx.post(f"{url}/predict", json={"instances": sample_instances(2)}).status_code == 200


def test_1500_concurrent_requests_are_answered_or_refused_with_retry_after(home, local_provider):
    cloudeploy.deploy(fitted_classifier(0), name="crowd", provider=local_provider)
    gateway, url = _gateway(local_provider, "crowd")
    before = gateway.memory_info().rss
    body = {"instances": sample_instances(1)}

    async def crowd():
        limits = httpx.Limits(max_connections=1500, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:
            return await asyncio.gather(*(client.post(f"{url}/predict", json=body) for _ in range(1500)),
                                        return_exceptions=True)

    replies = asyncio.run(crowd())

    failures = [r for r in replies if isinstance(r, Exception)]
    assert not failures, failures[:3]
    assert {r.status_code for r in replies} <= {200, 503}
    assert all(r.headers.get("retry-after") for r in replies if r.status_code == 503)
    assert gateway.memory_info().rss - before < 100 * MiB


def test_past_the_admission_limit_the_gateway_answers_503_at_once(home, local_provider, monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_GATEWAY_MAX_IN_FLIGHT", "4")
    cloudeploy.deploy(Slow(baseline_classifier(), delay_s=0.5), name="admission", provider=local_provider,
                      trust=True)
    _, url = _gateway(local_provider, "admission")
    from cloudeploy.testing.zoo import traffic

    body = {"instances": traffic(1)}
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: client.post(f"{url}/predict", json=body), range(16)))

    codes = [r.status_code for r in replies]
    assert 503 in codes and 200 in codes
    refused = [r for r in replies if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" and "overloaded" in r.json()["error"]["message"] for r in refused)


def test_only_loopback_callers_drive_the_gateway(home, local_provider):
    cloudeploy.deploy(fitted_classifier(0), name="guarded", provider=local_provider)
    _, url = _gateway(local_provider, "guarded")
    rebound = {"host": "evil.example"}
    cross_site = {"origin": "https://evil.example", "content-type": "text/plain"}

    assert httpx.post(f"{url}/_cloudeploy/reload", headers=rebound).status_code == 403
    assert httpx.get(f"{url}/_cloudeploy/status", headers=rebound).status_code == 403
    assert httpx.post(f"{url}/predict", content=b'{"instances": [[1, 2, 3, 4]]}', headers=cross_site).status_code == 403
    assert httpx.post(f"{url}/predict", json={"instances": sample_instances(1)}).status_code == 200
