"""VertexProvider.version_metrics: gate metrics from Cloud Monitoring."""

from __future__ import annotations

import time

import pytest
from google.api import distribution_pb2

from cloudeploy.config import Profile
from cloudeploy.errors import ConfigError, NotFoundError, ValidationError
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


def test_rejected_input_counts_as_a_request_but_not_as_a_version_error(deployed):
    since = time.time()
    deployed.predict("scored", instances(1))
    with pytest.raises(ValidationError):
        deployed.predict("scored", [["not", "a", "number"]])
    metrics = deployed.version_metrics("scored", "v1", since=since, until=time.time() + 0.01)
    assert (metrics.requests, metrics.errors) == (2, 0)


def test_metrics_of_a_version_not_deployed_is_not_found(deployed):
    with pytest.raises(NotFoundError, match="v7"):
        deployed.version_metrics("scored", "v7", since=time.time() - 60)
