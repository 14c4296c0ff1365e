"""The soak in its CI form: ~60 s of steady load on a two-version endpoint, traffic
moving every few seconds and a replica SIGKILLed every ~12 s (see soak.py;
bench/soak/run.py is the full form). The soak runs once; each test reads one
property of what happened.
"""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate
from tests.reliability.soak import ENDPOINT, SoakConfig, deploy_two_versions, run_soak

CONFIG = SoakConfig(seconds=60.0, concurrency=6, traffic_every_s=4.0, kill_every_s=12.0, min_replicas=2)
#: How much the mean RSS of gateway + replicas may grow from the first to the last third.
#: The gateway keeps a bounded log of recent requests (~120 B each) for promotion gates.
MAX_GROWTH_MIB = 24.0


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    """(provider, endpoint URL, SoakResult) of one soak; the endpoint is deleted afterwards."""
    workdir = tmp_path_factory.mktemp("soak")
    provider = LocalProvider(Profile(name="soak", settings={"home": str(workdir / "home")}))
    try:
        url = deploy_two_versions(provider, workdir, min_replicas=CONFIG.min_replicas)
        yield provider, url, run_soak(provider, url, CONFIG)
    finally:
        with contextlib.suppress(Exception):
            provider.delete_endpoint(ENDPOINT, force=True)
        row = provider.store.endpoint(ENDPOINT)
        if row is not None and pid_alive(row.gateway_pid):
            terminate(row.gateway_pid, timeout=30)


def test_soak_kept_the_endpoint_busy_with_both_versions_answering(soak):
    _, _, result = soak
    summary = result.summary()
    assert summary["requests"] >= 1000, summary
    assert summary["answered_by_version"].get("v1", 0) > 0 and summary["answered_by_version"].get("v2", 0) > 0


def test_soak_changed_traffic_and_killed_replicas_while_under_load(soak):
    _, _, result = soak
    assert len(result.traffic_changes) >= 5
    assert len(result.kills) >= 3


def test_no_request_fails_except_in_flight_calls_of_a_killed_replica(soak):
    _, _, result = soak
    assert result.unexplained_failures() == []
    # The gateway retries a forward that died with its replica on the other one:
    # with two replicas per version a kill should cost no request; allow one each.
    assert len(result.failures_near_kills()) <= len(result.kills), result.summary()["failure_kinds"]


def test_memory_of_gateway_and_replicas_does_not_grow_during_the_soak(soak):
    _, _, result = soak
    assert len(result.steady_memory()) >= 10, "too few samples with every replica up"
    _, _, total_first, total_last = result.memory_thirds()
    assert total_last - total_first <= MAX_GROWTH_MIB, result.summary()["rss_mib"]


def test_killed_replicas_are_replaced(soak):
    _, url, result = soak
    killed = {kill.pid for kill in result.kills}
    deadline = time.monotonic() + 60
    while True:
        versions = httpx.get(f"{url}/_cloudeploy/status", timeout=10).json()["versions"]
        pids = {version: set(info["pids"]) for version, info in versions.items()}
        replaced = all(len(p) == CONFIG.min_replicas and not p & killed and all(map(pid_alive, p)) for p in pids.values())
        if replaced or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(pids) == {"v1", "v2"}
    assert replaced, pids


def test_the_gateway_log_does_not_grow_with_every_request(soak):
    _, _, result = soak
    # A long-lived endpoint must not fill its disk: no log line per forwarded request.
    assert result.gateway_log_bytes < 64 * 1024, result.summary()["gateway_log_bytes_per_request"]
