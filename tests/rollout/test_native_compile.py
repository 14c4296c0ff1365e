"""A RolloutPlan compiled into SageMaker's blue/green DeploymentConfig and rollback alarms."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.providers.sagemaker.native_rollout import compile_plan
from cloudeploy.rollout import RolloutPlan


def routing_of(**plan):
    compiled = compile_plan(RolloutPlan(**plan), endpoint="ep", version="v2")
    return compiled.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]


def test_one_step_to_100_is_all_at_once():
    assert routing_of(steps=(100,), bake_s=60)["Type"] == "ALL_AT_ONCE"


def test_a_small_step_then_100_is_a_canary_of_that_size():
    routing = routing_of(steps=(10, 100), bake_s="5m")
    assert routing == {"Type": "CANARY", "WaitIntervalInSeconds": 300,
                       "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}


def test_equal_steps_are_linear():
    routing = routing_of(steps=(25, 50, 75, 100), bake_s=30)
    assert (routing["Type"], routing["LinearStepSize"]["Value"]) == ("LINEAR", 25)


@pytest.mark.parametrize("steps", [(5, 25, 50, 100), (60, 100), (5, 10, 15, 20, 100)])
def test_steps_sagemaker_cannot_run_are_refused_with_the_alternatives(steps):
    with pytest.raises(ValidationError, match="cannot run the steps"):
        compile_plan(RolloutPlan(steps=steps), endpoint="ep", version="v2")


def test_bake_longer_than_an_hour_is_refused():
    with pytest.raises(ValidationError, match="at most 3600s"):
        compile_plan(RolloutPlan(steps=(10, 100), bake_s="2h"), endpoint="ep", version="v2")


def test_gates_become_alarms_on_the_new_variant():
    compiled = compile_plan(RolloutPlan(steps=(10, 100), max_error_rate=0.02, max_p99_ms=300),
                            endpoint="ep", version="v2")
    alarms = {a["MetricName"]: a for a in compiled.alarms}
    assert alarms["Invocation5XXErrors"]["Threshold"] == 0.02
    assert alarms["ModelLatency"]["Threshold"] == 300_000  # microseconds
    assert {"Name": "VariantName", "Value": "v2"} in alarms["ModelLatency"]["Dimensions"]
    named = compiled.deployment_config["AutoRollbackConfiguration"]["Alarms"]
    assert sorted(a["AlarmName"] for a in named) == sorted(a["AlarmName"] for a in compiled.alarms)


def test_relative_latency_gate_cannot_be_native():
    with pytest.raises(ValidationError, match="max_p99_ratio"):
        compile_plan(RolloutPlan(steps=(10, 100), max_p99_ratio=1.5), endpoint="ep", version="v2")


def test_min_requests_is_noted_as_not_enforced():
    compiled = compile_plan(RolloutPlan(steps=(10, 100), min_requests=100), endpoint="ep", version="v2")
    assert any("min_requests" in note for note in compiled.notes)
