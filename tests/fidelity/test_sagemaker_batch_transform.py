"""Batch transform of CSV files in S3.

Sample: aws/amazon-sagemaker-examples, "Batch Transform with scikit-learn" (boto3
``create_transform_job`` with ``SplitType=Line``, ``BatchStrategy=MultiRecord``,
``AssembleWith=Line`` and ``Accept=text/csv``; the
``transform_job_completed_or_stopped`` waiter; the output object
``<input name>.out`` under ``S3OutputPath``), with the CreateTransformJob API
reference for states and errors.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import SKLEARN_IMAGE, unique


@pytest.fixture(scope="module")
def model_name(sm, role_arn, model_url):
    name = unique("batch-model")
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": model_url},
    )
    return name


def transform(sm, model_name: str, bucket: str, prefix: str, **output) -> str:
    name = unique("transform")
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model_name,
        MaxConcurrentTransforms=1,
        MaxPayloadInMB=6,
        BatchStrategy="MultiRecord",
        TransformInput={
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{prefix}/input/",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{bucket}/{prefix}/output",
            "AssembleWith": "Line",
            **output,
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600}
    )
    return name


def test_csv_lines_are_transformed_into_the_out_object(sm, bucket, model_name, classifier, iris):
    s3 = boto3.client("s3")
    rows = iris[0][::10]
    body = "\n".join(",".join(str(v) for v in row) for row in rows.tolist())
    s3.put_object(Bucket=bucket, Key="batch/input/iris.csv", Body=body)
    name = transform(sm, model_name, bucket, "batch", Accept="text/csv")
    described = sm.describe_transform_job(TransformJobName=name)
    assert described["TransformJobStatus"] == "Completed"
    out = s3.get_object(Bucket=bucket, Key="batch/output/iris.csv.out")["Body"].read().decode()
    assert [int(line) for line in out.split()] == classifier.predict(rows).tolist()


def test_a_job_without_input_objects_fails_with_a_reason(sm, bucket, model_name):
    from botocore.exceptions import WaiterError

    with pytest.raises(WaiterError, match="Failed") as raised:
        transform(sm, model_name, bucket, "empty", Accept="text/csv")
    name = raised.value.last_response["TransformJobName"]
    described = sm.describe_transform_job(TransformJobName=name)
    assert described["TransformJobStatus"] == "Failed"
    assert described["FailureReason"]


def test_a_taken_job_name_is_a_validation_exception(sm, bucket, model_name):
    boto3.client("s3").put_object(Bucket=bucket, Key="dup/input/a.csv", Body="1,2,3,4")
    name = transform(sm, model_name, bucket, "dup", Accept="text/csv")
    with pytest.raises(ClientError) as raised:
        sm.create_transform_job(
            TransformJobName=name,
            ModelName=model_name,
            TransformInput={
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/dup/input"}
                }
            },
            TransformOutput={"S3OutputPath": f"s3://{bucket}/dup/output"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
