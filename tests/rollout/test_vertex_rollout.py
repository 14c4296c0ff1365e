"""Rollouts on the Vertex AI provider against the emulator.

Deploying costs a second or so per version, so one endpoint serves the module:
v1 and v2 healthy, v3 a :class:`~tests.rollout.faulty_models.FaultyModel` (500 on
poison rows), v4 a :class:`~tests.rollout.faulty_models.SlowModel`. It is built
on the session's emulator after a reset and put back to ``v1=100`` before each
test. Gate metrics come from the emulator's Cloud Monitoring, fed per prediction.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.errors import CloudeployError
from cloudeploy.rollout import RolloutPlan
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from cloudeploy.types import TrafficSplit
from tests.rollout.conftest import REPO_ROOT, SLOW_MS
from tests.rollout.faulty_models import POISON_ROW, FaultyModel, SlowModel

ENDPOINT = "rollout"
STARTING = {"v1": 100, "v2": 0, "v3": 0, "v4": 0}
FAST = dict(steps=(50, 100), bake_s=1, min_requests=5, max_wait_s=60)


@pytest.fixture(scope="module")
def vertex(vertex_emulator_session):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = vertex_emulator_session
    emulator.reset()
    provider = VertexProvider(Profile(name="emulator", provider="vertex",
                                      settings=emulator.profile_settings(bucket="rollout")))  # fmt: skip
    versions = [fitted_classifier(0), fitted_classifier(1), FaultyModel(fitted_classifier(2)),
                SlowModel(fitted_classifier(3), delay_ms=SLOW_MS)]  # fmt: skip
    # Model servers unpickle tests.rollout.faulty_models: the launcher hands them
    # the PYTHONPATH of the moment they start.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(REPO_ROOT))
        for number, model in enumerate(versions):
            cloudeploy.deploy(model, ENDPOINT, model_name="m", provider=provider,
                              traffic=None if number == 0 else 0, trust=number >= 2)  # fmt: skip
    yield provider
    emulator.reset()


@pytest.fixture
def provider(vertex, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))  # a fresh rollout state store per test
    vertex.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return vertex


@contextlib.contextmanager
def predictions(provider, *, poison_every: int = 0, threads: int = 4):
    """Predict from ``threads`` threads until the block ends; yields a Counter of outcomes."""
    outcomes: Counter = Counter()
    stop = threading.Event()
    rows = sample_instances(20)

    def predict():
        count = 0
        while not stop.is_set():
            count += 1
            row = (
                POISON_ROW
                if poison_every and count % poison_every == 0
                else rows[count % len(rows)]
            )
            try:
                outcomes[provider.predict(ENDPOINT, [row]).version] += 1
            except CloudeployError:
                outcomes["failed"] += 1

    workers = [threading.Thread(target=predict, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)


def test_healthy_version_is_promoted_through_every_step_on_vertex(provider):
    with predictions(provider):
        result = cloudeploy.promote(ENDPOINT, "v2", provider=provider,
                                    plan=RolloutPlan(**FAST, max_error_rate=0.05))  # fmt: skip
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    assert [d.percent for d in result.decisions if d.action == "step"] == [50, 100]


def test_failing_version_is_rolled_back_at_the_first_step_to_the_exact_starting_split_on_vertex(
    provider,
):
    with predictions(provider, poison_every=3):
        result = cloudeploy.promote(ENDPOINT, "v3", provider=provider,
                                    plan=RolloutPlan(**FAST, max_error_rate=0.05))  # fmt: skip
    assert result.outcome == "rolled_back"
    assert (result.decisions[-1].action, result.decisions[-1].percent) == ("rollback", 50)
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    assert result.decisions[-1].metrics["new"]["errors"] > 0


def test_slow_version_breaks_the_latency_gate_on_vertex(provider):
    with predictions(provider):
        result = cloudeploy.promote(ENDPOINT, "v4", provider=provider,
                                    plan=RolloutPlan(**FAST, max_p99_ms=SLOW_MS * 0.75))  # fmt: skip
    assert result.outcome == "rolled_back"
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "p99_ms")
    assert gate["passed"] is False and gate["value"] > SLOW_MS * 0.75


def test_version_metrics_count_the_predictions_a_version_served(provider):
    import time

    since = time.time()
    for row in sample_instances(7):
        provider.predict(ENDPOINT, [row], version="v2")
    metrics = provider.version_metrics(ENDPOINT, "v2", since=since, until=time.time() + 0.01)
    assert (metrics.requests, metrics.errors) == (7, 0)
    assert metrics.p99_ms is not None and metrics.p99_ms > 0
