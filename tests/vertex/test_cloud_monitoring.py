"""Cloud Monitoring prediction metrics, read with google-cloud-monitoring only.

One endpoint for the module serves one model through the aiplatform SDK; each
test predicts in its own time window and lists that window's time series with
the real ``MetricServiceClient`` (gRPC, the only transport the library has),
or with plain HTTP on the emulator's REST ``/v3`` path.
"""

from __future__ import annotations

import datetime
import time

import grpc
import httpx
import pytest
from google.api_core import exceptions
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

from tests.vertex.conftest import deploy_prebuilt, instances, sdk_session

METRIC = "aiplatform.googleapis.com/prediction/online/"


@pytest.fixture(scope="module")
def served(vertex_emulator_session, tmp_path_factory):
    """(emulator, endpoint, deployed model id) of one model serving all traffic."""
    with sdk_session(vertex_emulator_session):
        endpoint = deploy_prebuilt(tmp_path_factory, "scored", display_name="scored")
        yield vertex_emulator_session, endpoint, endpoint.list_models()[0].id


@pytest.fixture(scope="module")
def client(served):
    emulator, _, _ = served
    channel = grpc.insecure_channel(emulator.monitoring_endpoint)
    yield monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
    channel.close()


def window_of(action) -> dict:
    """Run ``action`` and return the interval that holds exactly what it did."""
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(microseconds=1)
    action()
    time.sleep(0.01)
    return {"start_time": start, "end_time": datetime.datetime.now(datetime.UTC)}


def list_series(client, emulator, metric: str, interval: dict, **request) -> list:
    return list(client.list_time_series(request={
        "name": f"projects/{emulator.project}",
        "filter": f'metric.type = "{METRIC}{metric}" AND resource.labels.endpoint_id = "scored"',
        "interval": interval, **request,
    }))  # fmt: skip


def total(series: list) -> int:
    return sum(int(p.value.int64_value) for s in series for p in s.points)


def test_prediction_count_counts_every_prediction_of_the_window(served, client):
    emulator, endpoint, _ = served
    interval = window_of(lambda: [endpoint.predict(instances=instances(2)) for _ in range(5)])
    assert total(list_series(client, emulator, "prediction_count", interval)) == 5


def test_series_carry_the_endpoint_resource_and_the_deployed_model_label(served, client):
    emulator, endpoint, deployed_model_id = served
    interval = window_of(lambda: endpoint.predict(instances=instances(1)))
    (series,) = list_series(client, emulator, "prediction_count", interval)
    assert series.resource.type == "aiplatform.googleapis.com/Endpoint"
    assert dict(series.resource.labels) == {
        "resource_container": emulator.project, "location": emulator.region, "endpoint_id": "scored"}  # fmt: skip
    assert series.metric.labels["deployed_model_id"] == deployed_model_id


def test_latency_distribution_has_one_sample_per_prediction_in_its_buckets(served, client):
    emulator, endpoint, _ = served
    interval = window_of(lambda: [endpoint.predict(instances=instances(1)) for _ in range(4)])
    series = list_series(client, emulator, "prediction_latencies", interval)
    assert {s.metric.labels["latency_type"] for s in series} == {"total", "model", "overhead"}
    series = [s for s in series if s.metric.labels["latency_type"] == "total"]
    distributions = [p.value.distribution_value for s in series for p in s.points]
    assert sum(int(d.count) for d in distributions) == 4
    assert all(sum(int(c) for c in d.bucket_counts) == int(d.count) for d in distributions)
    assert all(d.bucket_options.exponential_buckets.num_finite_buckets > 0 for d in distributions)
    assert all(d.mean > 0 for d in distributions)


def test_failed_predictions_are_counted_as_errors_and_responses_by_their_code(served, client):
    emulator, endpoint, _ = served

    def fail_twice_answer_once():
        for _ in range(2):
            with pytest.raises(exceptions.BadRequest):
                endpoint.predict(instances=[["not", "numbers", "at all"]])
        endpoint.predict(instances=instances(1))

    interval = window_of(fail_twice_answer_once)
    assert total(list_series(client, emulator, "error_count", interval)) == 2
    responses = list_series(client, emulator, "response_count", interval)
    assert {s.metric.labels["response_code"]: total([s]) for s in responses} == {"400": 2, "200": 1}
    assert total(list_series(client, emulator, "prediction_count", interval)) == 3


def test_aligned_query_sums_the_window_into_one_point_per_series(served, client):
    emulator, endpoint, _ = served
    interval = window_of(lambda: [endpoint.predict(instances=instances(1)) for _ in range(3)])
    aggregation = {"alignment_period": {"seconds": 3600}, "per_series_aligner": "ALIGN_DELTA"}
    (series,) = list_series(client, emulator, "prediction_count", interval, aggregation=aggregation)
    assert [int(p.value.int64_value) for p in series.points] == [3]


def test_a_window_before_the_predictions_has_no_series(served, client):
    emulator, endpoint, _ = served
    interval = window_of(lambda: None)
    endpoint.predict(instances=instances(1))
    assert list_series(client, emulator, "prediction_count", interval) == []


def test_a_filter_without_a_metric_type_is_invalid_argument(served, client):
    emulator, _, _ = served
    now = datetime.datetime.now(datetime.UTC)
    with pytest.raises(exceptions.InvalidArgument, match="metric.type"):
        list(client.list_time_series(request={
            "name": f"projects/{emulator.project}", "filter": 'resource.labels.endpoint_id = "scored"',
            "interval": {"end_time": now}}))  # fmt: skip


def test_rest_time_series_answer_the_same_counts_as_grpc(served, client):
    emulator, endpoint, _ = served
    interval = window_of(lambda: [endpoint.predict(instances=instances(1)) for _ in range(3)])
    reply = httpx.get(f"{emulator.api_endpoint}/v3/projects/{emulator.project}/timeSeries", params={
        "filter": f'metric.type = "{METRIC}prediction_count"',
        "interval.startTime": interval["start_time"].isoformat().replace("+00:00", "Z"),
        "interval.endTime": interval["end_time"].isoformat().replace("+00:00", "Z"),
    })  # fmt: skip
    assert reply.status_code == 200
    points = [p for s in reply.json()["timeSeries"] for p in s["points"]]
    assert sum(int(p["value"]["int64Value"]) for p in points) == 3
    assert total(list_series(client, emulator, "prediction_count", interval)) == 3
