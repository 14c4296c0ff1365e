"""Autoscaling a variant with Application Auto Scaling.

Sample: aws/amazon-sagemaker-examples, "Configure autoscaling for SageMaker
endpoints" (``register_scalable_target`` on ``endpoint/<ep>/variant/<v>``,
``put_scaling_policy`` with ``TargetTrackingScaling`` on
``SageMakerVariantInvocationsPerInstance``), with the Application Auto Scaling API
reference: RegisterScalableTarget refuses MinCapacity > MaxCapacity, and
PutScalingPolicy returns the CloudWatch alarms (AlarmHigh / AlarmLow) that it
creates for a target tracking policy.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import deploy, wait_in_service

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture(scope="module")
def resource_id(sm, role_arn, model_url):
    endpoint = deploy(sm, role_arn, model_url)
    wait_in_service(sm, endpoint)
    return f"endpoint/{endpoint}/variant/AllTraffic"


@pytest.fixture(scope="module")
def aas(aws_env):
    return boto3.client("application-autoscaling")


def test_min_capacity_above_max_is_a_validation_exception(aas, resource_id):
    with pytest.raises(ClientError) as raised:
        aas.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=DIMENSION,
            MinCapacity=5, MaxCapacity=2,
        )  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    found = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])
    assert found["ScalableTargets"] == []


def test_target_tracking_policy_creates_and_returns_its_alarms(aas, resource_id):
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=DIMENSION,
        MinCapacity=1, MaxCapacity=4,
    )  # fmt: skip
    answer = aas.put_scaling_policy(
        PolicyName="Invocations-ScalingPolicy",
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    )
    names = sorted(alarm["AlarmName"] for alarm in answer["Alarms"])
    assert len(names) == 2
    assert "-AlarmHigh-" in names[0] and "-AlarmLow-" in names[1]
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == set(names)
    for alarm in alarms:
        assert (alarm["Namespace"], alarm["MetricName"]) == (
            "AWS/SageMaker",
            "InvocationsPerInstance",
        )
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dims == {"EndpointName": resource_id.split("/")[1], "VariantName": "AllTraffic"}
        assert alarm["AlarmActions"][0].startswith(answer["PolicyARN"])
    high = next(a for a in alarms if "-AlarmHigh-" in a["AlarmName"])
    assert (high["ComparisonOperator"], high["Threshold"]) == ("GreaterThanThreshold", 70.0)


def test_deleting_the_policy_deletes_its_alarms(aas, resource_id):
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=DIMENSION,
        MinCapacity=1, MaxCapacity=2,
    )  # fmt: skip
    answer = aas.put_scaling_policy(
        PolicyName="to-delete", ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 10.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    )  # fmt: skip
    names = [alarm["AlarmName"] for alarm in answer["Alarms"]]
    aas.delete_scaling_policy(
        PolicyName="to-delete", ServiceNamespace="sagemaker", ResourceId=resource_id,
        ScalableDimension=DIMENSION,
    )  # fmt: skip
    assert boto3.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"] == []
