"""Retries done right in the Vertex AI provider, counted by the emulator.

Throttling and 5xx are retried with back-off within the profile's
``max_attempts``; validation errors and 404s are tried once; throttling that
outlasts the attempts is a TransientError; retries stop at the caller's
timeout (an OperationTimeout); a throttled poll does not end a wait early; a
wait never outlasts the caller's timeout; a deploy whose operation fails is an
OperationFailed and the previous split keeps serving.
"""

from __future__ import annotations

import time

import pytest

from cloudeploy.config import Profile
from cloudeploy.errors import (
    ConfigError,
    NotFoundError,
    OperationFailed,
    OperationTimeout,
    TransientError,
    ValidationError,
)
from cloudeploy.providers.vertex import VertexProvider, retries
from cloudeploy.testing.conformance import fitted_classifier

BUCKET = "cloudeploy-test"
#: Seconds a call may run past the caller's timeout: its last attempt, started in time.
ONE_REQUEST = 1.0


@pytest.fixture
def emu(vertex_emulator):
    return vertex_emulator


@pytest.fixture
def make_provider(emu):
    settings = emu.profile_settings(bucket=BUCKET)

    def make(**extra) -> VertexProvider:
        return VertexProvider(
            Profile(name="emu", provider="vertex", settings={**settings, **extra})
        )

    return make


@pytest.fixture
def quick_backoff(monkeypatch):
    """Back-off of 10 ms: tests that count many attempts need not sleep seconds for them."""
    monkeypatch.setattr(retries, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(retries, "MAX_DELAY", 0.02)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Two package directories of model "house", built once: packaging is not under test."""
    from cloudeploy.packaging import build_package

    root = tmp_path_factory.mktemp("packages")
    return [
        build_package(fitted_classifier(seed), root / f"package-{seed}", name="house").path
        for seed in (0, 1)
    ]


@pytest.fixture
def serving_v1(make_provider, packages):
    """A provider and endpoint "house" serving v1 at 100%."""
    provider = make_provider()
    v1 = provider.upload_model(packages[0], "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1, timeout=60)
    return provider


# -- attempts --------------------------------------------------------------------------


def test_a_call_throttled_twice_succeeds_on_the_third_attempt(emu, make_provider):
    provider = make_provider()
    emu.faults.add("ListEndpoints", "throttle", count=2)
    assert provider.list_endpoints() == []
    assert emu.calls("ListEndpoints") == 3


def test_a_transient_5xx_is_retried_until_it_passes(emu, make_provider, quick_backoff):
    provider = make_provider()
    emu.faults.add("ListEndpoints", "transient", status=500, count=1)
    emu.faults.add("ListEndpoints", "transient", status=503, count=1)
    assert provider.list_endpoints() == []
    assert emu.calls("ListEndpoints") == 3


def test_throttling_that_outlasts_max_attempts_is_a_transient_error(
    emu, make_provider, quick_backoff
):
    provider = make_provider(max_attempts=3)
    emu.faults.add("ListEndpoints", "throttle")
    with pytest.raises(TransientError, match="after 3 attempt"):
        provider.list_endpoints()
    assert emu.calls("ListEndpoints") == 3


def test_by_default_a_call_is_tried_five_times(emu, make_provider, quick_backoff):
    provider = make_provider()
    emu.faults.add("GetEndpoint", "throttle")
    with pytest.raises(TransientError, match="after 5 attempt"):
        provider.get_endpoint("house")
    assert emu.calls("GetEndpoint") == 5


def test_max_attempts_1_never_retries(emu, make_provider):
    provider = make_provider(max_attempts=1)
    emu.faults.add("ListEndpoints", "throttle", count=1)
    with pytest.raises(TransientError):
        provider.list_endpoints()
    assert emu.calls("ListEndpoints") == 1


def test_an_invalid_argument_is_tried_exactly_once(emu, make_provider):
    provider = make_provider()
    with pytest.raises(ValidationError, match="instances"):
        provider.predict("house", [])
    assert emu.calls("Predict") == 1


def test_a_not_found_is_tried_exactly_once(emu, make_provider):
    provider = make_provider()
    with pytest.raises(NotFoundError):
        provider.get_endpoint("nowhere")
    assert emu.calls("GetEndpoint") == 1


def test_a_connection_error_is_retried_then_a_transient_error(quick_backoff, make_provider):
    from cloudeploy.testing.vertex.runner import free_port

    provider = make_provider(api_endpoint=f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(TransientError, match="after 2 attempt"):
        provider.list_endpoints()


@pytest.mark.parametrize("bad", [0, 21, "5", True, 2.5])
def test_a_bad_max_attempts_is_a_config_error_naming_it(make_provider, bad):
    with pytest.raises(ConfigError, match="max_attempts"):
        make_provider(max_attempts=bad)


# -- the caller's timeout -------------------------------------------------------------


def test_throttling_past_a_short_timeout_is_operation_timeout_before_max_attempts(
    emu, make_provider
):
    provider = make_provider(max_attempts=20)
    emu.faults.add("*", "throttle")
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match="getting endpoint house") as caught:
        provider.create_endpoint("house", model="house", timeout=2)
    assert time.monotonic() - started < 2 + ONE_REQUEST
    attempts = emu.calls("GetEndpoint")
    assert 1 <= attempts < 20
    assert f"out of time after {attempts} attempt(s)" in caught.value.message


def test_a_deploy_throttled_past_its_timeout_stops_retrying_and_v1_serves(
    emu, make_provider, serving_v1, packages
):
    v2 = serving_v1.upload_model(packages[1], "house")
    provider = make_provider(max_attempts=20)
    emu.faults.add("DeployModel", "throttle")
    deploys_before = emu.calls("DeployModel")
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match="deploying v2 to house") as caught:
        provider.deploy("house", v2, traffic=10, timeout=2)
    assert time.monotonic() - started < 2 + ONE_REQUEST
    attempts = emu.calls("DeployModel") - deploys_before
    assert 1 <= attempts < 20
    assert f"out of time after {attempts} attempt(s)" in caught.value.message
    assert provider.get_endpoint("house").traffic.to_dict() == {"v1": 100}


def test_a_deploy_throttled_twice_within_its_timeout_succeeds_on_the_third_attempt(
    emu, serving_v1, packages
):
    v2 = serving_v1.upload_model(packages[1], "house")
    emu.faults.add("DeployModel", "throttle", count=2)
    deploys_before = emu.calls("DeployModel")
    status = serving_v1.deploy("house", v2, traffic=10, timeout=10)
    assert status.traffic.to_dict() == {"v1": 90, "v2": 10}
    assert emu.calls("DeployModel") == deploys_before + 3


def test_a_step_with_a_longer_timeout_keeps_the_operations_deadline():
    from google.api_core.exceptions import TooManyRequests

    def throttled() -> None:
        raise TooManyRequests("busy")

    started = time.monotonic()
    with retries.deadline(0.5), retries.deadline(60), pytest.raises(retries.OutOfTime):
        retries.policy(20)(throttled)()
    assert time.monotonic() - started < 0.5 + ONE_REQUEST


def test_without_a_timeout_an_operation_is_bounded_by_max_attempts_only(
    emu, make_provider, quick_backoff
):
    provider = make_provider(max_attempts=3)
    emu.faults.add("CreateEndpoint", "throttle")
    with pytest.raises(TransientError, match="after 3 attempt"):
        provider.create_endpoint("house", model="house")
    assert emu.calls("CreateEndpoint") == 3


def test_timeout_0_returns_at_once_but_still_retries_the_request(emu, make_provider, quick_backoff):
    provider = make_provider()
    emu.faults.add("CreateEndpoint", "throttle", count=2)
    status = provider.create_endpoint("house", model="house", timeout=0)
    assert status.state == "creating"
    assert emu.calls("CreateEndpoint") == 3


# -- waits and outcomes ------------------------------------------------------------------


def test_a_throttled_poll_keeps_waiting_within_the_timeout(emu, make_provider):
    provider = make_provider(max_attempts=1)
    emu.faults.add("GetOperation", "throttle", count=2)
    provider.create_endpoint("house", model="house", timeout=60)
    assert emu.faults.rules[0].fired == 2
    assert provider.get_endpoint("house").name == "house"


def test_polls_throttled_until_the_timeout_are_operation_timeout(emu, make_provider):
    provider = make_provider(max_attempts=1)
    emu.faults.add("GetOperation", "throttle")
    with pytest.raises(OperationTimeout, match="may still be in progress"):
        provider.create_endpoint("house", model="house", timeout=0.5)


def test_latency_within_the_timeout_is_waited_out(emu, serving_v1, packages):
    v2 = serving_v1.upload_model(packages[1], "house")
    emu.faults.add("DeployModel", "latency", seconds=0.3)
    deploys_before = emu.calls("DeployModel")
    status = serving_v1.deploy("house", v2, traffic=10, timeout=60)
    assert status.traffic.to_dict() == {"v1": 90, "v2": 10}
    assert emu.calls("DeployModel") == deploys_before + 1


def test_latency_beyond_the_timeout_is_operation_timeout(emu, serving_v1, packages):
    v2 = serving_v1.upload_model(packages[1], "house")
    emu.faults.add("DeployModel", "latency", seconds=2.0)
    started = time.monotonic()
    with pytest.raises(OperationTimeout, match="may still be in progress"):
        serving_v1.deploy("house", v2, traffic=10, timeout=0.5)
    assert time.monotonic() - started < 2.0
    time.sleep(2.0)  # let the delayed request land before the next test's reset


def test_a_failed_deploy_is_operation_failed_and_the_previous_split_serves(
    emu, serving_v1, packages
):
    v2 = serving_v1.upload_model(packages[1], "house")
    emu.faults.add("DeployModel", "fail", reason="no capacity for n1-standard-2")
    with pytest.raises(OperationFailed, match="no capacity for n1-standard-2"):
        serving_v1.deploy("house", v2, traffic=10, timeout=60)
    status = serving_v1.get_endpoint("house")
    assert status.traffic.to_dict() == {"v1": 100}
    assert [d.version for d in status.deployments] == ["v1"]
