"""SageMakerProvider.version_metrics: error classes from CloudWatch, answers from data capture."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from cloudeploy.config import Profile
from cloudeploy.errors import CloudeployError
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.testing.conformance import fitted_classifier, sample_instances


@pytest.fixture
def provider(sagemaker_emulator, tmp_path):
    from cloudeploy.packaging import build_package

    settings = sagemaker_emulator.profile_settings(bucket="metrics")
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))
    package = build_package(fitted_classifier(0), tmp_path / "pkg", name="p").path
    version = provider.upload_model(package, "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", version, options={"data_capture": {"sampling_percentage": 100}})
    return provider


def window(provider, action) -> object:
    since = time.time()
    action()
    return provider.version_metrics("house", "v1", since=since, until=time.time() + 0.01)


def test_a_crashed_container_is_a_model_error_with_no_container_status(
    provider, sagemaker_emulator
):
    from cloudeploy.testing.sagemaker.runner import live_servers

    (server,) = [s for s in live_servers() if s.variant == "v1"]
    server.process.stop(0)
    runtime = sagemaker_emulator.client("sagemaker-runtime")

    def act():
        with pytest.raises(ClientError) as raised:
            runtime.invoke_endpoint(
                EndpointName="house",
                Body=b'{"instances": [[1, 2, 3, 4]]}',
                ContentType="application/json",
            )
        assert raised.value.response["Error"]["Code"] == "ModelError"
        assert raised.value.response["OriginalStatusCode"] == 0
        with pytest.raises(CloudeployError):
            provider.predict("house", sample_instances(1))

    metrics = window(provider, act)
    assert (metrics.requests, metrics.input_errors, metrics.model_errors) == (2, 0, 2)


def test_latency_percentiles_come_from_model_latency(provider):
    metrics = window(
        provider, lambda: [provider.predict("house", sample_instances(1)) for _ in range(5)]
    )
    assert metrics.p50_ms is not None and metrics.p99_ms is not None
    assert 0 < metrics.p50_ms <= metrics.p99_ms


def test_captured_answers_give_the_class_counts_of_the_window(provider):
    rows = sample_instances(12)
    answers: list = []

    def act():
        for row in rows:
            answers.extend(provider.predict("house", [row]).predictions)

    metrics = window(provider, act)
    expected: dict[str, int] = {}
    for label in answers:
        expected[str(label)] = expected.get(str(label), 0) + 1
    assert metrics.prediction_counts == expected
    assert metrics.prediction_values is None


def test_an_endpoint_without_data_capture_has_no_prediction_distribution(
    sagemaker_emulator, tmp_path
):
    from cloudeploy.packaging import build_package

    settings = sagemaker_emulator.profile_settings(bucket="metrics")
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))
    version = provider.upload_model(build_package(fitted_classifier(1), tmp_path / "p").path, "m")
    provider.create_endpoint("plain", model="m")
    provider.deploy("plain", version)
    since = time.time()
    provider.predict("plain", sample_instances(3))
    metrics = provider.version_metrics("plain", "v1", since=since, until=time.time() + 0.01)
    assert metrics.requests == 1
    assert metrics.prediction_counts is None and metrics.prediction_values is None
