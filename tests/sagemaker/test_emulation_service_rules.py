"""Service rules the emulation adds to moto, seen through plain boto3 (issue 16's edge cases)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.conftest import BUCKET, INSTANCE, expected, instances, package_tarball, settle

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def test_invoke_endpoint_async_answers_not_implemented(emu, settings):
    runtime = emu.client("sagemaker-runtime")
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint_async(EndpointName="ep", InputLocation=f"s3://{BUCKET}/in.json")
    assert raised.value.response["Error"]["Code"] == "NotImplemented"
    assert "InvokeEndpointAsync" in raised.value.response["Error"]["Message"]


def test_a_lower_max_than_the_registered_min_is_refused(emu, settings):
    aas = emu.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/v1",
        "ScalableDimension": DIMENSION,
    }
    aas.register_scalable_target(**target, MinCapacity=3, MaxCapacity=5)
    with pytest.raises(ClientError) as raised:
        aas.register_scalable_target(**target, MaxCapacity=2)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    found = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (found["MinCapacity"], found["MaxCapacity"]) == (3, 5)


def test_disable_scale_in_creates_only_the_high_alarm(emu, settings):
    aas = emu.client("application-autoscaling")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/v1",
        "ScalableDimension": DIMENSION,
    }
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    answer = aas.put_scaling_policy(
        PolicyName="p", PolicyType="TargetTrackingScaling", **target,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0, "DisableScaleIn": True,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    )  # fmt: skip
    assert len(answer["Alarms"]) == 1
    assert "-AlarmHigh-" in answer["Alarms"][0]["AlarmName"]


def test_replacing_a_policy_replaces_its_alarms(emu, settings):
    aas, cloudwatch = emu.client("application-autoscaling"), emu.client("cloudwatch")
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/ep/variant/v1",
        "ScalableDimension": DIMENSION,
    }
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    config = {
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
        }
    }
    first = aas.put_scaling_policy(
        PolicyName="p",
        PolicyType="TargetTrackingScaling",
        **target,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 5.0, **config},
    )
    second = aas.put_scaling_policy(
        PolicyName="p",
        PolicyType="TargetTrackingScaling",
        **target,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 9.0, **config},
    )
    remaining = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert remaining == {a["AlarmName"] for a in second["Alarms"]}
    assert not remaining & {a["AlarmName"] for a in first["Alarms"]}


def test_sklearn_container_default_accept_comes_from_its_environment(
    sm, s3, runtime, settings, put_config, tmp_path
):
    s3.put_object(Bucket=BUCKET, Key="csv/model.tar.gz", Body=package_tarball(0, tmp_path))
    sm.create_model(
        ModelName="csv-default", ExecutionRoleArn=settings["role_arn"],
        PrimaryContainer={
            "Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/csv/model.tar.gz",
            "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
        },
    )  # fmt: skip
    put_config("c", {"v1": ("csv-default", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    assert settle(sm, "ep")["EndpointStatus"] == "InService"
    rows = instances(3)
    answer = runtime.invoke_endpoint(
        EndpointName="ep", ContentType="application/json", Body=json.dumps(rows)
    )
    assert answer["ContentType"].startswith("text/csv")
    assert [int(v) for v in answer["Body"].read().decode().split()] == expected(0, rows)


def test_the_cloudeploy_image_keeps_its_own_answer(sm, runtime, put_model, put_config, in_service):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ours", EndpointConfigName="c1")
    in_service("ours")
    rows = instances(2)
    answer = runtime.invoke_endpoint(
        EndpointName="ours", ContentType="application/json", Body=json.dumps(rows)
    )
    assert json.loads(answer["Body"].read())["predictions"] == expected(0, rows)


def test_a_bad_time_scale_in_the_environment_is_one_clear_error(monkeypatch):
    from cloudeploy.errors import ValidationError
    from cloudeploy.testing.sagemaker.clock import ENV, scale_from_env

    monkeypatch.setenv(ENV, "fast")
    with pytest.raises(ValidationError, match=ENV):
        scale_from_env()
    monkeypatch.setenv(ENV, "0.25")
    assert scale_from_env() == 0.25


def test_instance_type_is_recorded_on_the_pending_variants(
    emu, sm, put_model, put_config, in_service
):
    put_model("m1", 0)
    put_config("c1", {"v1": ("m1", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    in_service("ep")
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    pending = sm.describe_endpoint(EndpointName="ep")["PendingDeploymentSummary"]
    assert pending["ProductionVariants"][0]["InstanceType"] == INSTANCE
    assert settle(sm, "ep")["EndpointConfigName"] == "c2"
