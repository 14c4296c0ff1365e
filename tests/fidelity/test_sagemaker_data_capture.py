"""Data capture of a real-time endpoint's requests and answers to S3.

Sample: the SageMaker developer guide "Capture data from real-time endpoint" and
aws/amazon-sagemaker-examples' Model Monitor introduction (``DataCaptureConfig``
with ``EnableCapture``, ``InitialSamplingPercentage=100``, ``CaptureOptions``
Input/Output and ``CaptureContentTypeHeader``; captured files under
``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl``, one JSON line
per invocation with ``captureData.endpointInput`` / ``endpointOutput`` and
``eventMetadata``).
"""

from __future__ import annotations

import json

import boto3
import pytest

from tests.fidelity.conftest import deploy, wait_in_service


@pytest.fixture(scope="module")
def captured(sm, smr, role_arn, model_url, bucket, iris):
    destination = f"s3://{bucket}/datacapture"
    endpoint = deploy(
        sm, role_arn, model_url,
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": destination,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        },
    )  # fmt: skip
    described = wait_in_service(sm, endpoint)
    rows = iris[0][:3].tolist()
    payload = "\n".join(",".join(str(v) for v in row) for row in rows)
    for _ in range(3):
        smr.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=payload)
    return endpoint, described, payload


def test_describe_reports_capture_started(captured, bucket):
    _, described, _ = captured
    capture = described["DataCaptureConfig"]
    assert (
        capture["EnableCapture"],
        capture["CaptureStatus"],
        capture["CurrentSamplingPercentage"],
    ) == (
        True,
        "Started",
        100,
    )
    assert capture["DestinationS3Uri"] == f"s3://{bucket}/datacapture"


def test_every_invocation_is_one_json_line_under_endpoint_and_variant(
    captured, bucket, classifier, iris
):
    endpoint, _, payload = captured
    s3 = boto3.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"datacapture/{endpoint}/AllTraffic/")[
            "Contents"
        ]
    ]
    assert keys and all(key.endswith(".jsonl") for key in keys)
    assert all(
        len(key.split("/")) == 8 for key in keys
    )  # datacapture/ep/variant/yyyy/mm/dd/hh/file
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    assert len(records) == 3
    for record in records:
        request, answer = (
            record["captureData"]["endpointInput"],
            record["captureData"]["endpointOutput"],
        )
        assert (
            request["observedContentType"],
            request["mode"],
            request["encoding"],
            request["data"],
        ) == (
            "text/csv",
            "INPUT",
            "CSV",
            payload,
        )
        assert (answer["observedContentType"], answer["mode"]) == ("application/json", "OUTPUT")
        assert json.loads(answer["data"]) == classifier.predict(iris[0][:3]).tolist()
        assert record["eventMetadata"]["eventId"] and record["eventMetadata"]["inferenceTime"]
