"""VertexProvider.version_metrics: gate metrics from Cloud Monitoring."""

from __future__ import annotations

import time

import pytest
from google.api import distribution_pb2

from cloudeploy.config import Profile
from cloudeploy.errors import CloudeployError, ConfigError, NotFoundError
from cloudeploy.providers.vertex.metrics import percentile
from tests.vertex.conftest import fitted_model, instances


def exponential(counts: list[int]) -> distribution_pb2.Distribution:
    """A distribution over buckets with bounds 1, 2, 4, 8, ... ms (what the client returns)."""
    return distribution_pb2.Distribution(
        count=sum(counts),
        bucket_options={
            "exponential_buckets": {"num_finite_buckets": 10, "growth_factor": 2.0, "scale": 1.0}
        },
        bucket_counts=counts,
    )


def test_p99_lies_inside_the_bucket_that_holds_the_99th_percent_sample():
    # 98 samples in [1, 2) ms and 2 in [8, 16): the 99th of 100 is in the slow bucket.
    p99 = percentile([exponential([0, 98, 0, 0, 2])], 0.99)
    assert 8.0 < p99 <= 16.0


def test_p99_merges_the_buckets_of_several_distributions():
    merged = percentile([exponential([0, 50]), exponential([0, 0, 0, 0, 50])], 0.99)
    assert 8.0 < merged <= 16.0


def test_p99_of_no_samples_is_none():
    assert percentile([exponential([0, 0])], 0.99) is None


def test_an_emulator_profile_without_monitoring_endpoint_is_a_config_error(vertex_emulator):
    from cloudeploy.providers.vertex import VertexProvider

    settings = vertex_emulator.profile_settings()
    settings.pop("monitoring_endpoint")
    provider = VertexProvider(Profile(name="emu", provider="vertex", settings=settings))
    with pytest.raises(ConfigError, match="monitoring_endpoint"):
        provider.clients.monitoring  # noqa: B018


@pytest.fixture
def deployed(vertex_emulator, tmp_path):
    """A provider whose endpoint ``scored`` serves v1."""
    from cloudeploy.packaging import build_package
    from cloudeploy.providers.vertex import VertexProvider

    settings = vertex_emulator.profile_settings(bucket="metrics")
    provider = VertexProvider(Profile(name="emu", provider="vertex", settings=settings))
    version = provider.upload_model(build_package(fitted_model(0), tmp_path / "pkg").path, "m")
    provider.create_endpoint("scored", model="m")
    provider.deploy("scored", version)
    return provider


def test_a_crashed_model_server_counts_as_model_errors(deployed, vertex_emulator):
    (server,) = vertex_emulator.backends.servers()
    server.process.stop(0)
    since = time.time()
    with pytest.raises(CloudeployError):
        deployed.predict("scored", instances(1))
    metrics = deployed.version_metrics("scored", "v1", since=since, until=time.time() + 0.01)
    assert metrics.requests >= 1
    assert (metrics.input_errors, metrics.model_errors) == (0, metrics.requests)


def test_latency_percentiles_come_from_the_total_latency_distribution(deployed):
    since = time.time()
    for _ in range(5):
        deployed.predict("scored", instances(1))
    metrics = deployed.version_metrics("scored", "v1", since=since, until=time.time() + 0.01)
    assert metrics.requests == 5
    assert 0 < metrics.p50_ms <= metrics.p99_ms


def enable_request_logging(provider, endpoint: str) -> None:
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import field_mask_pb2

    resource = types.Endpoint(
        name=f"{provider.settings.parent}/endpoints/{endpoint}",
        predict_request_response_logging_config=types.PredictRequestResponseLoggingConfig(
            enabled=True, sampling_rate=1.0,
            bigquery_destination=types.BigQueryDestination(output_uri=f"bq://{provider.settings.project}")),
    )  # fmt: skip
    provider.clients.endpoints.update_endpoint(
        endpoint=resource,
        update_mask=field_mask_pb2.FieldMask(paths=["predict_request_response_logging_config"]),
    )


def test_logged_answers_give_the_class_counts_of_the_window(deployed):
    assert deployed.version_metrics("scored", "v1", since=time.time() - 5).prediction_counts is None
    enable_request_logging(deployed, "scored")
    since = time.time()
    answers = [label for row in instances(9) for label in deployed.predict("scored", [row]).predictions]
    metrics = deployed.version_metrics("scored", "v1", since=since, until=time.time() + 0.01)
    expected: dict[str, int] = {}
    for label in answers:
        expected[str(int(label))] = expected.get(str(int(label)), 0) + 1
    assert metrics.prediction_counts == expected
    later = deployed.version_metrics("scored", "v1", since=time.time() + 0.01, until=time.time() + 1)
    assert later.prediction_counts is None


def test_metrics_of_a_version_not_deployed_is_not_found(deployed):
    with pytest.raises(NotFoundError, match="v7"):
        deployed.version_metrics("scored", "v7", since=time.time() - 60)
