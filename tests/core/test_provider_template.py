"""The shared half of the provider template: one deadline per call, traffic checked and planned once."""

from __future__ import annotations

import time

import pytest

from cloudeploy.errors import NotFoundError, OperationTimeout, ValidationError
from cloudeploy.providers.base import wait_until
from cloudeploy.providers.deadline import Deadline
from cloudeploy.providers.traffic import (
    check_percent,
    check_split,
    deploy_split,
    full_split,
    undeploy_split,
)
from cloudeploy.types import DeployedVersion, EndpointStatus, Scaling


def endpoint(**percents: int) -> EndpointStatus:
    return EndpointStatus(
        name="ep",
        provider="test",
        model="m",
        state="serving",
        url="",
        deployments=tuple(DeployedVersion(v, p, Scaling()) for v, p in percents.items()),
    )


def test_no_timeout_is_the_providers_default_bound():
    deadline = Deadline.start(None, default=180)
    assert deadline.waits and deadline.timeout == 180


@pytest.mark.parametrize(("wait", "timeout"), [(True, 0), (False, None), (False, 30)])
def test_timeout_0_or_wait_false_does_not_wait(wait, timeout):
    assert not Deadline.start(timeout, wait=wait, default=180).waits


@pytest.mark.parametrize("bad", [-1, float("nan"), True, "10"])
def test_a_bad_timeout_is_refused(bad):
    with pytest.raises(ValidationError, match="timeout"):
        Deadline.start(bad, default=180)


def test_steps_sharing_a_deadline_never_wait_longer_than_it_in_total():
    deadline = Deadline.start(0.3, default=180)
    started = time.monotonic()
    for step in ("undeploy v1", "undeploy v2", "delete"):
        with pytest.raises(OperationTimeout, match="after 0.3s waiting for"):
            wait_until(lambda: False, timeout=deadline, what=step, how_to_check="look", interval=0.05)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("bad", [True, False, 12.5, 12.0, "10", None, -1, 101])
def test_a_percent_is_a_whole_int_0_to_100(bad):
    with pytest.raises(ValidationError):
        check_percent(bad)


def test_a_split_given_as_a_mapping_must_hold_ints():
    assert check_split({"v1": 90, "2": 10}).to_dict() == {"v1": 90, "v2": 10}
    for bad in ({"v1": True, "v2": 99}, {"v1": 50.0, "v2": 50}, {"v1": 87.5, "v2": 12.5}):
        with pytest.raises(ValidationError):
            check_split(bad)


def test_a_full_split_names_every_deployed_version():
    assert full_split(check_split({"v2": 100}), endpoint(v1=100, v2=0)).to_dict() == {"v1": 0, "v2": 100}
    with pytest.raises(NotFoundError, match="v7 not deployed"):
        full_split(check_split({"v1": 50, "v7": 50}), endpoint(v1=100))
    with pytest.raises(ValidationError, match="serving nothing"):
        full_split(check_split({}), endpoint(v1=100))


def test_an_endpoint_with_every_version_at_0_reads_as_the_empty_split():
    assert endpoint(v1=0, v2=0).traffic.to_dict() == {}


@pytest.mark.parametrize(
    ("before", "version", "traffic", "after"),
    [
        ({}, "v1", None, {"v1": 100}),
        ({}, "v1", 10, {"v1": 100}),
        ({"v1": 100}, "v2", None, {"v1": 100, "v2": 0}),
        ({"v1": 100}, "v2", 10, {"v1": 90, "v2": 10}),
        ({"v1": 90, "v2": 10}, "v2", None, {"v1": 90, "v2": 10}),
        ({"v1": 90, "v2": 10}, "v2", 30, {"v1": 70, "v2": 30}),
        ({"v1": 0, "v2": 0}, "v3", None, {"v1": 0, "v2": 0, "v3": 100}),
    ],
)
def test_the_split_a_deploy_leads_to(before, version, traffic, after):
    assert deploy_split(endpoint(**before), version, traffic).to_dict() == after


def test_the_split_an_undeploy_leads_to():
    assert undeploy_split(endpoint(v1=50, v2=25, v3=25), "v1").to_dict() == {"v2": 50, "v3": 50}
    assert undeploy_split(endpoint(v1=100, v2=0), "v2").to_dict() == {"v1": 100}
