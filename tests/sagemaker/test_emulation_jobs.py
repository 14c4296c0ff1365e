"""Transform jobs, monitoring schedules and registry deletions, through boto3 only."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.conftest import BUCKET, expected, instances


def create_transform(sm, name: str, model: str, input_uri: str) -> None:
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="MultiRecord",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/out",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )


def test_transform_job_writes_a_prediction_per_input_line(sm, s3, put_model):
    put_model("m1", 0)
    rows = instances(6)
    s3.put_object(
        Bucket=BUCKET, Key="in/part-1.csv", Body="\n".join(",".join(map(str, r)) for r in rows)
    )
    create_transform(sm, "job", "m1", f"s3://{BUCKET}/in/")
    assert (
        sm.list_transform_jobs()["TransformJobSummaries"][0]["TransformJobStatus"] == "InProgress"
    )
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="job", WaiterConfig={"MaxAttempts": 2}
    )
    assert sm.describe_transform_job(TransformJobName="job")["TransformJobStatus"] == "Completed"
    output = s3.get_object(Bucket=BUCKET, Key="out/part-1.csv.out")["Body"].read().decode()
    assert [int(line) for line in output.split()] == expected(0, rows)


def test_transform_job_with_no_input_fails_with_a_reason(sm, put_model):
    put_model("m1", artifact="missing")
    create_transform(sm, "job", "m1", f"s3://{BUCKET}/nothing-here/")
    described = sm.describe_transform_job(TransformJobName="job")
    assert described["TransformJobStatus"] == "Failed"
    assert "No S3 objects found" in described["FailureReason"]


def test_transform_job_that_the_model_refuses_fails(sm, s3, put_model):
    put_model("m1", 0)
    s3.put_object(Bucket=BUCKET, Key="in/bad.csv", Body="1,2\n3,4\n")
    create_transform(sm, "job", "m1", f"s3://{BUCKET}/in/")
    described = sm.describe_transform_job(TransformJobName="job")
    assert described["TransformJobStatus"] == "Failed"
    assert "400" in described["FailureReason"]


def test_stopped_transform_job_ends_stopped(sm, put_model):
    put_model("m1", artifact="missing")
    create_transform(sm, "job", "m1", f"s3://{BUCKET}/in/")
    sm.stop_transform_job(TransformJobName="job")
    assert sm.describe_transform_job(TransformJobName="job")["TransformJobStatus"] == "Stopped"


def test_stopping_a_finished_transform_job_is_refused(sm, put_model):
    put_model("m1", artifact="missing")
    create_transform(sm, "job", "m1", f"s3://{BUCKET}/in/")
    sm.describe_transform_job(TransformJobName="job")
    with pytest.raises(ClientError, match="cannot be stopped"):
        sm.stop_transform_job(TransformJobName="job")


def test_stopping_an_unknown_transform_job_is_refused(sm):
    with pytest.raises(ClientError, match="Could not find transform job"):
        sm.stop_transform_job(TransformJobName="nope")


# -- monitoring schedules -------------------------------------------------------


@pytest.fixture
def endpoint(sm, put_model, put_config):
    put_model("gone", artifact="missing")
    put_config("c1", {"v1": ("gone", 1.0)})
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    return "ep"


def schedule_config(endpoint: str, cron: str = "cron(0 * ? * * *)") -> dict:
    return {
        "ScheduleConfig": {"ScheduleExpression": cron},
        "MonitoringType": "DataQuality",
        "MonitoringJobDefinition": {
            "MonitoringInputs": [
                {
                    "EndpointInput": {
                        "EndpointName": endpoint,
                        "LocalPath": "/opt/ml/processing/input",
                    }
                }
            ],
            "MonitoringOutputConfig": {
                "MonitoringOutputs": [
                    {
                        "S3Output": {
                            "S3Uri": f"s3://{BUCKET}/monitoring",
                            "LocalPath": "/opt/ml/processing/output",
                        }
                    }
                ]
            },
            "MonitoringResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 20,
                }
            },
            "MonitoringAppSpecification": {"ImageUri": "monitor:latest"},
            "RoleArn": "arn:aws:iam::123456789012:role/monitor",
        },
    }


def test_schedule_is_pending_then_scheduled(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    assert (
        sm.list_monitoring_schedules()["MonitoringScheduleSummaries"][0]["MonitoringScheduleStatus"]
        == "Pending"
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="drift")
    assert (described["MonitoringScheduleStatus"], described["EndpointName"]) == (
        "Scheduled",
        endpoint,
    )


def test_schedules_are_listed_by_endpoint(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    assert [
        s["MonitoringScheduleName"]
        for s in sm.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"]
    ] == ["drift"]
    assert sm.list_monitoring_schedules(EndpointName="other")["MonitoringScheduleSummaries"] == []


def test_update_replaces_the_schedule(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    sm.update_monitoring_schedule(
        MonitoringScheduleName="drift",
        MonitoringScheduleConfig=schedule_config(endpoint, "cron(0 0 ? * * *)"),
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="drift")
    assert (
        described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"]
        == "cron(0 0 ? * * *)"
    )


def test_stop_and_start_toggle_the_schedule(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    sm.stop_monitoring_schedule(MonitoringScheduleName="drift")
    assert (
        sm.describe_monitoring_schedule(MonitoringScheduleName="drift")["MonitoringScheduleStatus"]
        == "Stopped"
    )
    sm.start_monitoring_schedule(MonitoringScheduleName="drift")
    assert (
        sm.describe_monitoring_schedule(MonitoringScheduleName="drift")["MonitoringScheduleStatus"]
        == "Scheduled"
    )


def test_deleted_schedule_is_not_found(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    sm.delete_monitoring_schedule(MonitoringScheduleName="drift")
    with pytest.raises(ClientError) as raised:
        sm.describe_monitoring_schedule(MonitoringScheduleName="drift")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"


def test_duplicate_schedule_is_resource_in_use(sm, endpoint):
    sm.create_monitoring_schedule(
        MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
    )
    with pytest.raises(ClientError) as raised:
        sm.create_monitoring_schedule(
            MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config(endpoint)
        )
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"


def test_schedule_for_an_unknown_endpoint_is_refused(sm, settings):
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.create_monitoring_schedule(
            MonitoringScheduleName="drift", MonitoringScheduleConfig=schedule_config("nope")
        )


def test_schedule_with_a_bad_expression_is_refused(sm, endpoint):
    with pytest.raises(ClientError, match="ScheduleExpression"):
        sm.create_monitoring_schedule(
            MonitoringScheduleName="drift",
            MonitoringScheduleConfig=schedule_config(endpoint, "hourly"),
        )


# -- registry -----------------------------------------------------------------


@pytest.fixture
def group(sm, settings):
    sm.create_model_package_group(ModelPackageGroupName="house")
    return "house"


def add_package(sm, group: str) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "img:1", "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def test_deleted_model_package_is_gone(sm, group):
    arn = add_package(sm, group)
    sm.delete_model_package(ModelPackageName=arn)
    assert sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []


def test_version_numbers_are_not_reused_after_a_delete(sm, group):
    add_package(sm, group)
    second = add_package(sm, group)
    sm.delete_model_package(ModelPackageName=second)
    third = add_package(sm, group)
    assert sm.describe_model_package(ModelPackageName=third)["ModelPackageVersion"] == 3


def test_group_with_packages_cannot_be_deleted(sm, group):
    add_package(sm, group)
    with pytest.raises(ClientError) as raised:
        sm.delete_model_package_group(ModelPackageGroupName=group)
    assert raised.value.response["Error"]["Code"] == "ConflictException"


def test_empty_group_is_deleted(sm, group):
    sm.delete_model_package_group(ModelPackageGroupName=group)
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_deleting_an_unknown_package_is_refused(sm, group):
    with pytest.raises(ClientError, match="does not exist"):
        sm.delete_model_package(
            ModelPackageName="arn:aws:sagemaker:us-east-1:123456789012:model-package/house/9"
        )
