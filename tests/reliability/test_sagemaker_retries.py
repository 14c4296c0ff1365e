"""Retries done right in the SageMaker provider, counted by the emulation.

Throttling and 5xx are retried with back-off within the profile's
``max_attempts``; validation errors are tried once; throttling that outlasts the
attempts is a TransientError; a throttled poll does not end a wait early; a
failed or silently rolled-back update is an OperationFailed, never success.
"""

from __future__ import annotations

import pytest

from cloudeploy.config import Profile
from cloudeploy.errors import ConfigError, NotFoundError, OperationFailed, TransientError
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.testing.conformance import fitted_classifier

BUCKET = "cloudeploy-test"


@pytest.fixture
def settings(sagemaker_emulator):
    return sagemaker_emulator.profile_settings(bucket=BUCKET)


@pytest.fixture
def emu(sagemaker_emulator, settings):
    return sagemaker_emulator


@pytest.fixture
def make_provider(settings):
    def make(**extra) -> SageMakerProvider:
        profile = Profile(name="emulation", provider="sagemaker", settings={**settings, **extra})
        return SageMakerProvider(profile)

    return make


@pytest.fixture
def package(tmp_path):
    from cloudeploy.packaging import build_package

    def make(seed: int):
        return build_package(fitted_classifier(seed), tmp_path / f"package-{seed}", name="p").path

    return make


# -- attempts --------------------------------------------------------------------------


def test_a_call_throttled_twice_succeeds_on_the_third_attempt(emu, make_provider):
    provider = make_provider()
    emu.faults.add("ListEndpoints", "throttle", count=2)
    assert provider.list_endpoints() == []
    assert emu.calls("ListEndpoints") == 3


def test_a_transient_5xx_is_retried_until_it_passes(emu, make_provider):
    provider = make_provider()
    emu.faults.add("ListEndpoints", "transient", status=500, count=1)
    emu.faults.add("ListEndpoints", "transient", status=503, count=1)
    assert provider.list_endpoints() == []
    assert emu.calls("ListEndpoints") == 3


def test_throttling_that_outlasts_max_attempts_is_a_transient_error(emu, make_provider):
    provider = make_provider(max_attempts=3)
    emu.faults.add("ListEndpoints", "throttle")
    with pytest.raises(TransientError, match="after 3 attempt"):
        provider.list_endpoints()
    assert emu.calls("ListEndpoints") == 3


def test_max_attempts_1_never_retries(emu, make_provider):
    provider = make_provider(max_attempts=1)
    emu.faults.add("ListEndpoints", "throttle", count=1)
    with pytest.raises(TransientError):
        provider.list_endpoints()
    assert emu.calls("ListEndpoints") == 1


def test_a_validation_error_is_tried_exactly_once(emu, make_provider):
    provider = make_provider()
    with pytest.raises(NotFoundError, match="nowhere"):
        provider.predict("nowhere", [[1.0, 2.0, 3.0, 4.0]])
    assert emu.calls("InvokeEndpoint") == 1


def test_clients_allow_five_attempts_by_default(make_provider):
    retries = make_provider().clients.sagemaker.meta.config.retries
    assert retries == {"mode": "standard", "total_max_attempts": 5}


@pytest.mark.parametrize("bad", [0, 21, "5", True, 2.5])
def test_a_bad_max_attempts_is_a_config_error_naming_it(make_provider, bad):
    with pytest.raises(ConfigError, match="max_attempts"):
        make_provider(max_attempts=bad)


# -- waits and outcomes ------------------------------------------------------------------


def test_a_throttled_poll_keeps_waiting_within_the_timeout(emu, make_provider, package):
    provider = make_provider(max_attempts=1)
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    # The first DescribeEndpoint finds no endpoint; the next two, polls while it is
    # created, are throttled with no retry left.
    emu.faults.add("DescribeEndpoint", "throttle", skip=1, count=2)
    status = provider.deploy("house", v1, timeout=60)
    assert status.traffic.to_dict() == {"v1": 100}
    assert emu.faults.rules[0].fired == 2


def test_a_create_that_ends_failed_is_operation_failed_and_leaves_nothing(
    emu, make_provider, package
):
    provider = make_provider()
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    emu.faults.add("CreateEndpoint", "fail", reason="InsufficientInstanceCapacity")
    with pytest.raises(OperationFailed, match="InsufficientInstanceCapacity"):
        provider.deploy("house", v1, timeout=60)
    sm = emu.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_a_silent_rollback_is_operation_failed_and_the_old_version_serves(
    emu, make_provider, package
):
    provider = make_provider()
    v1 = provider.upload_model(package(0), "house")
    v2 = provider.upload_model(package(1), "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1, timeout=60)
    emu.faults.add("UpdateEndpoint", "silent_rollback")
    with pytest.raises(OperationFailed, match="rolled endpoint house back"):
        provider.deploy("house", v2, traffic=10, timeout=60)
    assert provider.get_endpoint("house").traffic.to_dict() == {"v1": 100}
