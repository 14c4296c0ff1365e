"""Rollouts on the local provider, with real gateway and replica processes under load."""

from __future__ import annotations

import cloudeploy
from cloudeploy.rollout import RolloutPlan
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from tests.rollout.faulty_models import FaultyModel, SlowModel
from tests.rollout.load import RotatingLoad, poisoned_bodies

FAST = dict(steps=(10, 50, 100), bake_s=1.5, min_requests=20)


def _stream(url: str, *, every: int = 10, max_requests: int = 100_000) -> RotatingLoad:
    bodies = poisoned_bodies(sample_instances(50), every=every)
    return RotatingLoad(f"{url}/predict", bodies[0], bodies=bodies, concurrency=4,
                        max_requests=max_requests, max_seconds=120).start()


def test_healthy_version_is_promoted_through_every_step(local_provider, canary_endpoint):
    url = canary_endpoint(fitted_classifier(1))
    load = _stream(url, every=10**9)
    try:
        result = cloudeploy.promote("ep", "v2", plan=RolloutPlan(**FAST, max_error_rate=0.01),
                                    provider=local_provider)
    finally:
        load.stop()
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100}
    steps = [d.percent for d in result.decisions if d.action == "step"]
    assert steps == [10, 50, 100]


def test_version_failing_some_requests_is_rolled_back_at_the_first_step(local_provider, canary_endpoint):
    url = canary_endpoint(FaultyModel(fitted_classifier(1)))
    load = _stream(url, every=10)
    try:
        result = cloudeploy.promote("ep", "v2", plan=RolloutPlan(**FAST, max_error_rate=0.02),
                                    provider=local_provider)
    finally:
        load.stop()
    assert result.outcome == "rolled_back"
    assert result.traffic == {"v1": 100, "v2": 0}
    rollback = result.decisions[-1]
    assert (rollback.action, rollback.percent) == ("rollback", 10)
    assert rollback.metrics["new"]["error_rate"] > 0.02


def test_slow_version_breaks_the_latency_gate(local_provider, canary_endpoint):
    url = canary_endpoint(SlowModel(fitted_classifier(1), delay_ms=150))
    load = _stream(url, every=10**9)
    try:
        result = cloudeploy.promote("ep", "v2", plan=RolloutPlan(**FAST, max_p99_ms=100), provider=local_provider)
    finally:
        load.stop()
    assert result.outcome == "rolled_back"
    assert result.traffic == {"v1": 100, "v2": 0}
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "p99_ms")
    assert gate["passed"] is False and gate["value"] > 100
