"""Deployment guardrails: blue/green updates with canary traffic, baking and auto-rollback.

Sample: aws/amazon-sagemaker-examples, sagemaker-inference-deployment-guardrails,
"Update SageMaker Endpoint using Canary Traffic Shifting" (CloudWatch alarms on the
variant's ``Invocation5XXErrors`` and ``ModelLatency``, ``update_endpoint`` with
``DeploymentConfig`` = CANARY + ``AutoRollbackConfiguration``, invocations while the
update runs, ``describe_endpoint`` until InService). The developer guide ("Blue/Green
Deployments", "Use canary traffic shifting") documents the phases: the green fleet is
provisioned, the canary takes its share, each step bakes ``WaitIntervalInSeconds``
while the alarms are watched, and an alarm during any bake sends all traffic back to
the blue fleet. The suite runs the emulation's clock at 0.1 (tests/conftest.py).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import (
    INSTANCE_TYPE,
    SKLEARN_IMAGE,
    deploy,
    unique,
    upload_model,
    wait_in_service,
)

# The faulty model cannot be compiled (it refuses every row); the emulation says so.
pytestmark = pytest.mark.filterwarnings("ignore:not compiled, serving with the original runtime")


def canary(alarm: str, wait_s: int) -> dict:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": wait_s,
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


def error_alarm(endpoint: str) -> str:
    """The sample's alarm: the variant's 5XX error rate over one minute."""
    name = unique("5xx")
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name, AlarmDescription="5XX errors of the endpoint's variant",
        ActionsEnabled=False, MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
        Statistic="Average", Dimensions=[
            {"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Period=60, EvaluationPeriods=1, Threshold=0.01,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
    )  # fmt: skip
    return name


def new_config(sm, role_arn: str, url: str) -> str:
    model = unique("model")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": url},
    )
    name = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 2,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    return name


@pytest.fixture(scope="module")
def faulty_url(bucket, iris):
    """A plain scikit-learn model that fails on every valid request (n_neighbors > samples)."""
    from sklearn.neighbors import KNeighborsClassifier

    X, y = iris
    return upload_model(
        bucket,
        "guardrails/faulty/model.tar.gz",
        KNeighborsClassifier(n_neighbors=30).fit(X[::15], y[::15]),
    )


@pytest.fixture(scope="module")
def healthy_url(bucket, iris):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    return upload_model(
        bucket, "guardrails/healthy/model.tar.gz", DecisionTreeClassifier(random_state=0).fit(X, y)
    )


def invoke(smr, endpoint: str, rows) -> int | None:
    """One invocation; the container's status for a ModelError, None on success."""
    try:
        smr.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=json.dumps(rows)
        )
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ModelError"
        return error.response.get("OriginalStatusCode")
    return None


def test_faulty_canary_is_rolled_back_to_the_old_fleet_during_its_bake(
    sm, smr, role_arn, model_url, faulty_url, iris
):
    endpoint = deploy(sm, role_arn, model_url)
    old_config = wait_in_service(sm, endpoint)["EndpointConfigName"]
    alarm = error_alarm(endpoint)
    config = new_config(sm, role_arn, faulty_url)
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=canary(alarm, 30)
    )
    rows = iris[0][:2].tolist()
    statuses, errors = [], 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=endpoint)
        statuses.append(described["EndpointStatus"])
        if described["EndpointStatus"] != "Updating":
            break
        errors += invoke(smr, endpoint, rows) is not None
    assert statuses[0] == "Updating"
    assert errors > 0, "the canary never served"
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == old_config
    assert alarm in described["FailureReason"]
    assert (
        boto3.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0][
            "StateValue"
        ]
        == "ALARM"
    )
    # all traffic is back on the old fleet
    assert [invoke(smr, endpoint, rows) for _ in range(10)] == [None] * 10


def test_healthy_canary_bakes_each_step_then_serves_everything(
    sm, smr, role_arn, model_url, healthy_url, iris
):
    endpoint = deploy(sm, role_arn, model_url)
    wait_in_service(sm, endpoint)
    alarm = error_alarm(endpoint)
    config = new_config(sm, role_arn, healthy_url)
    started = time.monotonic()
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=canary(alarm, 30)
    )
    phases = []
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] != "Updating":
            break
        pending = described["PendingDeploymentSummary"]
        assert pending["EndpointConfigName"] == config
        status = pending["ProductionVariants"][0]["VariantStatus"][0]["Status"]
        if not phases or phases[-1] != status:
            phases.append(status)
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert "Baking" in phases
    assert set(phases) <= {"Creating", "ActivatingTraffic", "Baking"}
    # two steps (50%, then 100%) of 30 s each, at the suite's time scale of 0.1
    assert elapsed >= 2 * 30 * 0.1
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", config)
    assert "FailureReason" not in described
    assert (
        described["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
            "Type"
        ]
        == "CANARY"
    )
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_a_canary_above_half_the_fleet_is_a_validation_exception(
    sm, role_arn, model_url, healthy_url
):
    endpoint = deploy(sm, role_arn, model_url)
    wait_in_service(sm, endpoint)
    alarm = error_alarm(endpoint)
    policy = canary(alarm, 30)
    policy["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"]["Value"] = 60
    with pytest.raises(ClientError) as raised:
        sm.update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=new_config(sm, role_arn, healthy_url),
            DeploymentConfig=policy,
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
