"""Rollouts on the local provider, with real gateway and replica processes under load."""

from __future__ import annotations

import cloudeploy
from cloudeploy.rollout import RolloutPlan
from cloudeploy.testing.conformance import sample_instances
from tests.rollout.conftest import ENDPOINT, SLOW_MS
from tests.rollout.load import RotatingLoad, poisoned_bodies

FAST = dict(steps=(10, 50, 100), bake_s=1.5, min_requests=20)


def stream(url: str, *, poison_every: int = 10**9, max_requests: int = 100_000, concurrency: int = 4) -> RotatingLoad:
    bodies = poisoned_bodies(sample_instances(50), every=poison_every)
    return RotatingLoad(f"{url}/predict", bodies[0], bodies=bodies, concurrency=concurrency,
                        max_requests=max_requests, max_seconds=180).start()


def promote_under_load(endpoint, version, plan, **stream_options):
    load = stream(endpoint.url, **stream_options)
    try:
        return cloudeploy.promote(ENDPOINT, version, plan=plan, provider=endpoint.provider)
    finally:
        load.stop()


def test_healthy_version_is_promoted_through_every_step(endpoint):
    result = promote_under_load(endpoint, "v2", RolloutPlan(**FAST, max_error_rate=0.01))
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    assert [d.percent for d in result.decisions if d.action == "step"] == [10, 50, 100]


def test_version_failing_some_requests_is_rolled_back_at_the_first_step(endpoint):
    result = promote_under_load(endpoint, "v3", RolloutPlan(**FAST, max_error_rate=0.02), poison_every=10)
    assert result.outcome == "rolled_back"
    assert result.traffic == {"v1": 100, "v2": 0, "v3": 0, "v4": 0}
    rollback = result.decisions[-1]
    assert (rollback.action, rollback.percent) == ("rollback", 10)
    assert rollback.metrics["new"]["error_rate"] > 0.02


def test_slow_version_breaks_the_latency_gate(endpoint):
    result = promote_under_load(endpoint, "v4", RolloutPlan(**FAST, max_p99_ms=SLOW_MS * 0.75))
    assert result.outcome == "rolled_back"
    assert result.traffic == {"v1": 100, "v2": 0, "v3": 0, "v4": 0}
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "p99_ms")
    assert gate["passed"] is False and gate["value"] > SLOW_MS * 0.75


def test_stream_of_5000_requests_sees_no_failure_but_the_broken_versions_own(endpoint):
    """A healthy promotion, then a broken version's promotion and rollback, under one request stream."""
    load = stream(endpoint.url, poison_every=10, max_requests=5000, concurrency=8)
    try:
        promoted = cloudeploy.promote(ENDPOINT, "v2", provider=endpoint.provider, plan=RolloutPlan(
            steps=(20, 100), bake_s=1, min_requests=300, max_wait_s=120, max_error_rate=0.01))
        rolled_back = cloudeploy.promote(ENDPOINT, "v3", provider=endpoint.provider, plan=RolloutPlan(
            steps=(20, 100), bake_s=1, min_requests=100, max_wait_s=120, max_error_rate=0.02))
        load.wait_for(5000, timeout=150)
    finally:
        results = load.stop()

    assert (promoted.outcome, rolled_back.outcome) == ("promoted", "rolled_back")
    assert rolled_back.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    assert len(results) >= 5000
    failures = [r for r in results if r.status != 200]
    assert failures and {r.version for r in failures} == {"v3"}
    assert {r.status for r in failures} == {500}
