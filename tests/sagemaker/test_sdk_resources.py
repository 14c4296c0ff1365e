"""The SageMaker Python SDK v3 resource classes (sagemaker.core.resources), unchanged, against the emulation."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.conftest import BUCKET, INSTANCE, expected, instances, package_tarball


@pytest.fixture
def session(emu, settings, monkeypatch, tmp_path):
    import boto3

    for name, value in emu.environment().items():
        monkeypatch.setenv(name, value)
    # Keep the user's real AWS configuration out of the SDK's reach.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return boto3.Session(region_name=emu.region)


@pytest.fixture
def model(session, s3, settings, tmp_path):
    from sagemaker.core.resources import Model
    from sagemaker.core.shapes import ContainerDefinition

    s3.put_object(Bucket=BUCKET, Key="sdk/model.tar.gz", Body=package_tarball(0, tmp_path))
    return Model.create(
        model_name="sdk-model",
        primary_container=ContainerDefinition(
            image=settings["serving_image"], model_data_url=f"s3://{BUCKET}/sdk/model.tar.gz"
        ),
        execution_role_arn=settings["role_arn"],
        session=session,
        region=settings["region"],
    )


@pytest.fixture
def endpoint(session, model, settings):
    from sagemaker.core.resources import Endpoint, EndpointConfig
    from sagemaker.core.shapes import ProductionVariant

    EndpointConfig.create(
        endpoint_config_name="sdk-config",
        production_variants=[
            ProductionVariant(
                variant_name="v1",
                model_name=model.model_name,
                instance_type=INSTANCE,
                initial_instance_count=1,
                initial_variant_weight=1.0,
            )
        ],
        session=session,
        region=settings["region"],
    )
    return Endpoint.create(
        endpoint_name="sdk-ep",
        endpoint_config_name="sdk-config",
        session=session,
        region=settings["region"],
    )


def test_model_reads_back_through_the_sdk(session, model, settings):
    from sagemaker.core.resources import Model

    found = Model.get(model_name="sdk-model", session=session, region=settings["region"])
    assert found.primary_container.model_data_url == f"s3://{BUCKET}/sdk/model.tar.gz"


def test_endpoint_reaches_in_service_and_predicts(endpoint):
    endpoint.wait_for_status("InService", poll=1, timeout=120)
    assert endpoint.production_variants[0].variant_name == "v1"
    rows = instances()
    answer = endpoint.invoke(body=json.dumps({"instances": rows}), content_type="application/json")
    assert json.loads(answer.body.read())["predictions"] == expected(0, rows)


def test_endpoint_config_reads_back_through_the_sdk(session, endpoint, settings):
    from sagemaker.core.resources import EndpointConfig

    config = EndpointConfig.get(
        endpoint_config_name="sdk-config", session=session, region=settings["region"]
    )
    assert config.production_variants[0].model_name == "sdk-model"


def test_unknown_endpoint_raises_the_services_error(session, settings):
    from sagemaker.core.resources import Endpoint

    with pytest.raises(ClientError, match="Could not find endpoint"):
        Endpoint.get(endpoint_name="nope", session=session, region=settings["region"])


def test_deleted_endpoint_is_gone(session, endpoint, settings):
    from sagemaker.core.resources import Endpoint

    endpoint.wait_for_status("InService", poll=1, timeout=120)
    endpoint.delete()
    with pytest.raises(ClientError):
        Endpoint.get(endpoint_name="sdk-ep", session=session, region=settings["region"])


def test_monitoring_schedule_reads_back_through_the_sdk(
    session, sm, put_model, put_config, settings
):
    from sagemaker.core.resources import MonitoringSchedule

    from tests.sagemaker.test_emulation_jobs import schedule_config

    put_model("gone", artifact="missing")
    put_config("c-gone", {"v1": ("gone", 1.0)})
    sm.create_endpoint(EndpointName="watched", EndpointConfigName="c-gone")
    sm.create_monitoring_schedule(
        MonitoringScheduleName="sdk-drift", MonitoringScheduleConfig=schedule_config("watched")
    )
    schedule = MonitoringSchedule.get(
        monitoring_schedule_name="sdk-drift", session=session, region=settings["region"]
    )
    assert schedule.monitoring_schedule_status == "Scheduled"


def test_model_package_group_reads_back_through_the_sdk(session, sm, settings):
    from sagemaker.core.resources import ModelPackageGroup

    sm.create_model_package_group(ModelPackageGroupName="sdk-group")
    group = ModelPackageGroup.get(
        model_package_group_name="sdk-group", session=session, region=settings["region"]
    )
    assert group.model_package_group_status == "Completed"


def test_guarded_update_rolls_back_through_the_sdk(
    session, endpoint, sm, cloudwatch, put_model, put_config, settings
):
    from sagemaker.core.shapes import (
        Alarm,
        AutoRollbackConfig,
        BlueGreenUpdatePolicy,
        CapacitySize,
        DeploymentConfig,
        TrafficRoutingConfig,
    )

    endpoint.wait_for_status("InService", poll=1, timeout=120)
    cloudwatch.put_metric_alarm(
        AlarmName="sdk-errors", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="sdk-errors", StateValue="ALARM", StateReason="test")
    put_model("m2", 1)
    put_config("c2", {"v2": ("m2", 1.0)})
    endpoint.endpoint_config_name = "c2"
    endpoint.update(
        deployment_config=DeploymentConfig(
            blue_green_update_policy=BlueGreenUpdatePolicy(
                traffic_routing_configuration=TrafficRoutingConfig(
                    type="CANARY",
                    wait_interval_in_seconds=1,  # the SDK drops a 0 the API requires
                    canary_size=CapacitySize(type="CAPACITY_PERCENT", value=10),
                )
            ),
            auto_rollback_configuration=AutoRollbackConfig(alarms=[Alarm(alarm_name="sdk-errors")]),
        )
    )
    endpoint.refresh()
    assert (endpoint.endpoint_status, endpoint.endpoint_config_name) == ("InService", "sdk-config")
    assert "sdk-errors" in endpoint.failure_reason


def test_transform_job_reads_back_through_the_sdk(session, sm, put_model, settings):
    from sagemaker.core.resources import TransformJob

    from tests.sagemaker.test_emulation_jobs import create_transform

    put_model("gone", artifact="missing")
    create_transform(sm, "sdk-job", "gone", f"s3://{BUCKET}/none/")
    job = TransformJob.get(transform_job_name="sdk-job", session=session, region=settings["region"])
    assert job.transform_job_status == "Failed"
    assert job.failure_reason
