"""Endpoints in the emulation, through boto3 only: lifecycles, updates, rollbacks."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.conftest import expected, instances, settle


def invoke(runtime, endpoint: str, rows, **extra) -> dict:
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        Body=json.dumps({"instances": rows}),
        ContentType="application/json",
        **extra,
    )
    return {"variant": answer["InvokedProductionVariant"], **json.loads(answer["Body"].read())}


def guarded(alarm: str, routing: dict, wait: int = 0) -> dict:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"WaitIntervalInSeconds": wait, **routing}
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


@pytest.fixture
def serving(sm, put_model, put_config, in_service):
    """An endpoint "ep" InService on config "c1" (variant v1, model seed 0)."""
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    in_service("ep")
    return "ep"


@pytest.fixture
def failed(sm, put_model, put_config):
    """An endpoint "broken" whose only model artifact is missing (no model server)."""
    put_model("gone", artifact="missing")
    put_config("c-gone", {"v1": ("gone", 1.0)})
    sm.create_endpoint(EndpointName="broken", EndpointConfigName="c-gone")
    settle(sm, "broken")
    return "broken"


def test_new_endpoint_is_creating_at_first_then_in_service(sm, put_model, put_config):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    assert sm.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "Creating"
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    assert settle(sm, "ep")["EndpointStatus"] == "InService"


def test_waiter_returns_with_variants_and_no_placeholders(serving, sm):
    described = sm.describe_endpoint(EndpointName=serving)
    variant = described["ProductionVariants"][0]
    assert variant["VariantName"] == "v1"
    assert variant["CurrentInstanceCount"] == 1
    assert variant["DeployedImages"][0]["ResolvedImage"].count("@sha256:") == 1
    assert "DataCaptureConfig" not in described
    assert "FailureReason" not in described


def test_a_creating_endpoint_refuses_invocations(sm, runtime, put_model, put_config):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    with pytest.raises(ClientError) as raised:
        invoke(runtime, "ep", instances())
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_missing_artifact_fails_the_endpoint_with_a_reason(failed, sm):
    described = sm.describe_endpoint(EndpointName=failed)
    assert described["EndpointStatus"] == "Failed"
    assert "s3://cloudeploy-test/models/gone/absent.tar.gz" in described["FailureReason"]


def test_failed_endpoint_waiter_raises(failed, sm):
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError, match="Failed"):
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=failed, WaiterConfig={"Delay": 0.1, "MaxAttempts": 2}
        )


def test_creating_an_existing_endpoint_is_refused(failed, sm):
    with pytest.raises(ClientError, match="already existing endpoint") as raised:
        sm.create_endpoint(EndpointName=failed, EndpointConfigName="c-gone")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_unknown_endpoint_config_is_refused(sm):
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="nope")


def test_unknown_endpoint_is_a_validation_exception(sm):
    with pytest.raises(ClientError, match="Could not find endpoint") as raised:
        sm.describe_endpoint(EndpointName="nope")
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_updating_a_failed_endpoint_is_refused(failed, sm):
    with pytest.raises(ClientError, match="Cannot update failed endpoint"):
        sm.update_endpoint(EndpointName=failed, EndpointConfigName="c-gone")


def test_update_serves_the_new_config(serving, sm, runtime, put_model, put_config):
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(EndpointName=serving, EndpointConfigName="c2")
    assert sm.describe_endpoint(EndpointName=serving)["EndpointStatus"] == "Updating"
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=serving, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    assert sm.describe_endpoint(EndpointName=serving)["EndpointConfigName"] == "c2"
    rows = instances()
    answer = invoke(runtime, serving, rows)
    assert (answer["variant"], answer["predictions"]) == ("v2", expected(1, rows))


def test_update_that_cannot_serve_returns_to_the_old_config(serving, sm, put_model, put_config):
    put_model("gone", artifact="missing")
    put_config("c-gone", {"v2": ("gone", 1.0)})
    sm.update_endpoint(EndpointName=serving, EndpointConfigName="c-gone")
    described = settle(sm, serving)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c1")
    assert "rolled back" in described["FailureReason"]


def test_alarm_in_alarm_rolls_back_a_guarded_update(serving, sm, cloudwatch, put_model, put_config):
    cloudwatch.put_metric_alarm(
        AlarmName="errors", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(
        EndpointName=serving,
        EndpointConfigName="c2",
        DeploymentConfig=guarded(
            "errors", {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}
        ),
    )
    described = settle(sm, serving)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c1")
    assert "errors" in described["FailureReason"]


def pending_status(sm, endpoint: str) -> str | None:
    summary = sm.describe_endpoint(EndpointName=endpoint).get("PendingDeploymentSummary")
    return summary["ProductionVariants"][0]["VariantStatus"][0]["Status"] if summary else None


def wait_for(predicate, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_errors_of_the_canary_during_its_bake_trip_its_alarm_and_roll_back(
    serving, sm, runtime, cloudwatch, put_model, put_config
):
    cloudwatch.put_metric_alarm(
        AlarmName="canary-4xx", Namespace="AWS/SageMaker", MetricName="Invocation4XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": serving}, {"Name": "VariantName", "Value": "v2"}],
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(
        EndpointName=serving,
        EndpointConfigName="c2",
        DeploymentConfig=guarded(
            "canary-4xx",
            {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20}},
            wait=600,  # a bake far longer than the test: only the alarm can end it
        ),
    )
    wait_for(lambda: pending_status(sm, serving) == "Baking")
    during = sm.describe_endpoint(EndpointName=serving)
    assert (during["EndpointStatus"], during["PendingDeploymentSummary"]["EndpointConfigName"]) == (
        "Updating",
        "c2",
    )
    with pytest.raises(ClientError):
        invoke(runtime, serving, [[1.0]], TargetVariant="v2")
    after = settle(sm, serving, timeout=30)
    assert (after["EndpointStatus"], after["EndpointConfigName"]) == ("InService", "c1")
    assert "canary-4xx" in after["FailureReason"]
    assert invoke(runtime, serving, instances())["variant"] == "v1"


def test_each_step_bakes_for_the_wait_interval_times_the_time_scale(
    emu, serving, sm, put_model, put_config
):
    import time

    emu.time_scale = 0.05
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    started = time.monotonic()
    sm.update_endpoint(
        EndpointName=serving,
        EndpointConfigName="c2",
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                    "WaitIntervalInSeconds": 20,
                }
            }
        },
    )
    assert sm.describe_endpoint(EndpointName=serving)["EndpointStatus"] == "Updating"
    described = settle(sm, serving)
    # two steps of 20 s at 1/20 speed: at least 2 s of wall time
    assert time.monotonic() - started >= 2 * 20 * 0.05
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "c2")


def test_time_scale_outside_0_to_1_is_refused(emu):
    from cloudeploy.errors import ValidationError

    with pytest.raises(ValidationError, match="time scale"):
        emu.time_scale = 0


def test_guarded_update_without_alarms_firing_completes(
    serving, sm, cloudwatch, put_model, put_config
):
    cloudwatch.put_metric_alarm(
        AlarmName="quiet", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    config = guarded(
        "quiet", {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 50}}
    )
    sm.update_endpoint(EndpointName=serving, EndpointConfigName="c2", DeploymentConfig=config)
    described = settle(sm, serving)
    assert described["EndpointConfigName"] == "c2"
    assert (
        described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
            "Type"
        ]
        == "LINEAR"
    )


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60}},
            "CanarySize must be at most 50%",
        ),
        ({"Type": "CANARY"}, "needs CanarySize"),
        (
            {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 5}},
            "between 10% and 50%",
        ),
        (
            {"Type": "LINEAR", "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 3}},
            "larger than the new fleet",
        ),
    ],
)
def test_traffic_routing_outside_the_service_limits_is_refused(
    failed, sm, cloudwatch, routing, message
):
    cloudwatch.put_metric_alarm(
        AlarmName="a", Namespace="AWS/SageMaker", MetricName="Invocations", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    with pytest.raises(ClientError, match=message) as raised:
        sm.update_endpoint(
            EndpointName=failed, EndpointConfigName="c-gone", DeploymentConfig=guarded("a", routing)
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_rollback_alarm_that_does_not_exist_is_refused(failed, sm):
    config = guarded("no-such-alarm", {"Type": "ALL_AT_ONCE"})
    with pytest.raises(ClientError, match="no-such-alarm"):
        sm.update_endpoint(
            EndpointName=failed, EndpointConfigName="c-gone", DeploymentConfig=config
        )


def test_weights_decide_the_variant_and_target_variant_overrides(
    sm, runtime, put_model, put_config, in_service
):
    put_model("m1", 0)
    put_model("m2", 1)
    put_config("c12", {"v1": ("m1", 1.0), "v2": ("m2", 0.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c12")
    in_service("ep")
    rows = instances()
    assert {invoke(runtime, "ep", rows)["variant"] for _ in range(5)} == {"v1"}
    pinned = invoke(runtime, "ep", rows, TargetVariant="v2")
    assert (pinned["variant"], pinned["predictions"]) == ("v2", expected(1, rows))
    sm.update_endpoint_weights_and_capacities(
        EndpointName="ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "v1", "DesiredWeight": 0.0},
            {"VariantName": "v2", "DesiredWeight": 1.0},
        ],
    )
    weights = {v["VariantName"]: v["CurrentWeight"] for v in in_service("ep")["ProductionVariants"]}
    assert weights == {"v1": 0.0, "v2": 1.0}
    assert {invoke(runtime, "ep", rows)["variant"] for _ in range(5)} == {"v2"}


def test_retained_variant_properties_keep_the_live_weight(serving, sm, put_config):
    sm.update_endpoint_weights_and_capacities(
        EndpointName=serving,
        DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 3.0}],
    )
    settle(sm, serving)
    put_config("c1-again", {"v1": ("m1", 1.0)})
    sm.update_endpoint(
        EndpointName=serving, EndpointConfigName="c1-again", RetainAllVariantProperties=True
    )
    assert settle(sm, serving)["ProductionVariants"][0]["CurrentWeight"] == 3.0


def test_weights_for_an_unknown_variant_are_refused(serving, sm):
    with pytest.raises(ClientError, match="not present within endpoint configuration"):
        sm.update_endpoint_weights_and_capacities(
            EndpointName=serving,
            DesiredWeightsAndCapacities=[{"VariantName": "v9", "DesiredWeight": 1.0}],
        )


def test_describe_endpoint_config_has_no_empty_placeholders(sm, put_model, put_config):
    put_model("m1", artifact="missing")
    put_config("c1", {"v1": ("m1", 1.0)})
    described = sm.describe_endpoint_config(EndpointConfigName="c1")
    assert "DataCaptureConfig" not in described
    assert "VpcConfig" not in sm.describe_model(ModelName="m1")
