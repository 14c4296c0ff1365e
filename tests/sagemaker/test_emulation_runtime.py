"""InvokeEndpoint in the emulation, through boto3 only: predictions, errors, metrics, capture."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

from tests.sagemaker.conftest import BUCKET, expected, instances


@pytest.fixture
def endpoint(sm, put_model, put_config, in_service):
    """Endpoint "ep" serving model seed 0 as variant v1, capturing every call to S3."""
    put_model("m1", 0)
    put_config(
        "c1",
        {"v1": ("m1", 1.0)},
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    in_service("ep")
    return "ep"


def test_json_request_gets_the_models_predictions(endpoint, runtime):
    rows = instances()
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps({"instances": rows}), ContentType="application/json"
    )
    assert answer["InvokedProductionVariant"] == "v1"
    assert json.loads(answer["Body"].read())["predictions"] == expected(0, rows)


def test_csv_request_gets_csv_predictions(endpoint, runtime):
    rows = instances()
    body = "\n".join(",".join(str(x) for x in row) for row in rows)
    answer = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="text/csv"
    )
    lines = answer["Body"].read().decode().split()
    assert [int(line) for line in lines] == expected(0, rows)


def test_bad_input_is_a_model_error_with_the_containers_answer(endpoint, runtime):
    with pytest.raises(ClientError) as raised:
        runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"instances": [[1.0]]}),
            ContentType="application/json",
        )
    response = raised.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert "4 features" in response["OriginalMessage"]


def test_unknown_endpoint_is_a_validation_error(runtime, settings):
    with pytest.raises(ClientError, match="Endpoint nope of account .* not found") as raised:
        runtime.invoke_endpoint(EndpointName="nope", Body=b"1,2,3,4", ContentType="text/csv")
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_invocations_are_counted_in_cloudwatch(endpoint, runtime, cloudwatch):
    rows = instances(2)
    for _ in range(3):
        runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"instances": rows}),
            ContentType="application/json",
        )
    with pytest.raises(ClientError):
        runtime.invoke_endpoint(
            EndpointName=endpoint, Body=b"[[1]]", ContentType="application/json"
        )
    now = dt.datetime.now(dt.UTC)

    def total(metric: str, statistic: str = "Sum") -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, Statistics=[statistic], Period=3600,
            StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}],
        )["Datapoints"]  # fmt: skip
        return sum(p[statistic] for p in points)

    assert total("Invocations") == 4
    assert total("Invocation4XXErrors") == 1
    assert total("Invocation5XXErrors") == 0
    assert total("ModelLatency", "Maximum") > 0


def test_captured_invocations_land_in_s3_in_capture_format(endpoint, runtime, s3):
    rows = instances(2)
    runtime.invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps({"instances": rows}), ContentType="application/json"
    )
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="capture/ep/v1/")["Contents"]
    ]
    assert len(keys) == 1 and keys[0].endswith(".jsonl")
    record = json.loads(
        s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().decode().splitlines()[0]
    )
    captured = record["captureData"]
    assert captured["endpointInput"]["encoding"] == "JSON"
    assert json.loads(captured["endpointInput"]["data"]) == {"instances": rows}
    assert json.loads(captured["endpointOutput"]["data"])["predictions"] == expected(0, rows)
    assert record["eventVersion"] == "0"


def test_described_endpoint_reports_its_data_capture(endpoint, sm):
    capture = sm.describe_endpoint(EndpointName=endpoint)["DataCaptureConfig"]
    assert (capture["CaptureStatus"], capture["CurrentSamplingPercentage"]) == ("Started", 100)


def test_bare_joblib_artifact_is_served(sm, runtime, put_model, put_config, in_service):
    put_model("bare", 3, artifact="joblib")
    put_config("cb", {"AllTraffic": ("bare", 1.0)})
    sm.create_endpoint(EndpointName="bare-ep", EndpointConfigName="cb")
    in_service("bare-ep")
    rows = instances()
    answer = runtime.invoke_endpoint(
        EndpointName="bare-ep", Body=json.dumps(rows), ContentType="application/json"
    )
    assert json.loads(answer["Body"].read())["predictions"] == expected(3, rows)


def test_latency_percentiles_come_from_the_recorded_latencies(endpoint, runtime, cloudwatch):
    for _ in range(3):
        runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"instances": instances(1)}),
            ContentType="application/json",
        )
    now = dt.datetime.now(dt.UTC)
    query = {
        "Namespace": "AWS/SageMaker", "MetricName": "ModelLatency", "Period": 3600,
        "StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1),
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}],
    }  # fmt: skip
    point = cloudwatch.get_metric_statistics(
        **query, Statistics=["Maximum"], ExtendedStatistics=["p50", "p99"]
    )["Datapoints"][0]
    assert (
        0
        < point["ExtendedStatistics"]["p50"]
        <= point["ExtendedStatistics"]["p99"]
        == point["Maximum"]
    )
