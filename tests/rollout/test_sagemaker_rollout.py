"""Rollouts on the SageMaker provider against the emulation: client-side and --native.

Deploying costs seconds per version, so one endpoint serves the module (v1 and
v2 healthy, v3 a :class:`~tests.rollout.faulty_models.FaultyModel`, v4 a
:class:`~tests.rollout.faulty_models.SlowModel`), built on
the session's emulation after a reset and reset to ``v1=100`` before each test.
Gate metrics come from CloudWatch, which the emulation feeds per invocation.
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


@pytest.fixture(scope="module")
def sagemaker(sagemaker_emulator_session):
    from cloudeploy.providers.sagemaker import SageMakerProvider

    emulation = sagemaker_emulator_session
    emulation.reset()
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker",
                                         settings=emulation.profile_settings()))
    # Model servers start in this process's environment and unpickle tests.rollout.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(REPO_ROOT))
        models = [fitted_classifier(0), fitted_classifier(1), FaultyModel(fitted_classifier(2)),
                  SlowModel(fitted_classifier(3), delay_ms=SLOW_MS)]
        for number, model in enumerate(models):
            cloudeploy.deploy(model, ENDPOINT, model_name="m", provider=provider,
                              traffic=None if number == 0 else 0, trust=number >= 2)
        yield emulation, provider
    emulation.reset()


@pytest.fixture
def provider(sagemaker, monkeypatch, tmp_path):
    emulation, provider = sagemaker
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))  # a fresh rollout state store per test
    provider.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return provider


@contextlib.contextmanager
def invocations(provider, *, poison_every: int = 0, threads: int = 4):
    """Invoke the endpoint from ``threads`` threads until the block ends; yields a Counter of outcomes."""
    outcomes: Counter = Counter()
    stop = threading.Event()
    rows = sample_instances(20)

    def invoke():
        count = 0
        while not stop.is_set():
            count += 1
            row = POISON_ROW if poison_every and count % poison_every == 0 else rows[count % len(rows)]
            try:
                outcomes[provider.predict(ENDPOINT, [row]).version] += 1
            except CloudeployError:
                outcomes["failed"] += 1

    workers = [threading.Thread(target=invoke, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield outcomes
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)


def test_healthy_version_is_promoted_through_every_step_on_sagemaker(provider):
    with invocations(provider):
        result = cloudeploy.promote(ENDPOINT, "v2", provider=provider, plan=RolloutPlan(
            steps=(50, 100), bake_s=1, min_requests=5, max_wait_s=60, max_error_rate=0.05))
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    assert [d.percent for d in result.decisions if d.action == "step"] == [50, 100]


def test_failing_version_is_rolled_back_to_the_exact_starting_split_on_sagemaker(provider):
    with invocations(provider, poison_every=3):
        result = cloudeploy.promote(ENDPOINT, "v3", provider=provider, plan=RolloutPlan(
            steps=(50, 100), bake_s=1, min_requests=5, max_wait_s=60, max_error_rate=0.05))
    assert result.outcome == "rolled_back"
    assert result.decisions[-1].percent == 50
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    assert result.decisions[-1].metrics["new"]["errors"] > 0


def test_slow_version_breaks_the_latency_gate_on_sagemaker(provider):
    with invocations(provider):
        result = cloudeploy.promote(ENDPOINT, "v4", provider=provider, plan=RolloutPlan(
            steps=(50, 100), bake_s=1, min_requests=5, max_wait_s=60, max_p99_ms=SLOW_MS * 0.75))
    assert result.outcome == "rolled_back"
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "p99_ms")
    assert gate["passed"] is False and gate["value"] > SLOW_MS * 0.75


@pytest.fixture
def step_by_step(sagemaker):
    """Make the emulation advance an update one phase per describe, as the service does over time."""
    emulation, _ = sagemaker
    emulation.settle_on_describe = False
    yield
    emulation.settle_on_describe = True


def test_native_canary_of_a_failing_version_is_rolled_back_by_the_service(provider, step_by_step):
    from cloudeploy.rollout.native import run_native_promotion

    plan = RolloutPlan(steps=(50, 100), bake_s=8, min_requests=0, max_error_rate=0.05)
    with invocations(provider, poison_every=2):
        result = run_native_promotion(provider, ENDPOINT, "v3", plan, poll_s=2.0)
    assert result.outcome == "rolled_back"
    assert "went into ALARM" in result.reason
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING


def test_native_canary_of_a_healthy_version_ends_with_it_serving_everything(provider, step_by_step):
    plan = RolloutPlan(steps=(50, 100), bake_s=4, min_requests=0, max_error_rate=0.05)
    with invocations(provider):
        result = cloudeploy.promote(ENDPOINT, "v2", plan=plan, native=True, provider=provider)
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    assert result.plan["native"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
        "Type"] == "CANARY"


def test_native_promote_run_again_follows_the_update_already_in_progress(provider, step_by_step):
    from cloudeploy.errors import OperationTimeout
    from cloudeploy.rollout.native import run_native_promotion

    plan = RolloutPlan(steps=(50, 100), bake_s=4, min_requests=0, max_error_rate=0.05)
    with pytest.raises(OperationTimeout):
        run_native_promotion(provider, ENDPOINT, "v2", plan, timeout=0)
    result = run_native_promotion(provider, ENDPOINT, "v2", plan, poll_s=0.5)
    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
