"""Local options reach what they configure: capture_sample reaches the replicas' capture, strict is met."""

from __future__ import annotations

import contextlib
import time

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.monitoring import read_capture
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate
from cloudeploy.testing.conformance import fitted_classifier, sample_instances

#: One-row requests sent per check: a 0.5 rate captures 30 on average (standard deviation 3.9).
REQUESTS = 60


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    home = tmp_path_factory.mktemp("options-home")
    provider = LocalProvider(Profile(name="options-tests", settings={"home": str(home)}))
    try:
        cloudeploy.deploy(fitted_classifier(0), "off", provider=provider, options={"capture_sample": 0})
        cloudeploy.deploy(fitted_classifier(0), "half", provider=provider, options={"capture_sample": 0.5})
        yield provider
    finally:
        with contextlib.suppress(Exception):
            for row in provider.store.endpoints():
                if pid_alive(row.gateway_pid):
                    terminate(row.gateway_pid, timeout=20)


def captured_requests(provider, endpoint: str, since: float) -> int:
    folder = provider.capture_dir(endpoint)
    if not folder.exists():
        return 0
    folders = [d for d in folder.iterdir() if d.is_dir()]
    return sum(1 for _ in read_capture(folders, since=since, until=time.time() + 1))


def send_and_count(provider, *endpoints: str) -> dict[str, int]:
    """Send REQUESTS one-row requests to each endpoint; the requests each captured once the
    writers have caught up (the count of the last endpoint stops growing)."""
    start = time.time()
    rows = sample_instances(1)
    for _ in range(REQUESTS):
        for endpoint in endpoints:
            provider.predict(endpoint, rows)
    # The writer batches: wait until the count stops growing (at most a few seconds).
    count, deadline = -1, time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = captured_requests(provider, endpoints[-1], start)
        if now == count and now > 0:
            break
        count = now
    return {endpoint: captured_requests(provider, endpoint, start) for endpoint in endpoints}


def test_capture_sample_is_the_share_of_requests_the_replicas_capture(provider):
    counts = send_and_count(provider, "off", "half")
    assert 10 <= counts["half"] <= 50
    assert counts["off"] == 0
    assert not provider.capture_dir("off").exists()


def test_a_restarted_endpoint_captures_at_the_rate_it_was_created_with(provider):
    provider.stop_endpoint("half")
    provider.start_endpoint("half")
    assert 10 <= send_and_count(provider, "half")["half"] <= 50


def test_another_capture_rate_for_an_existing_endpoint_is_a_conflict(provider):
    with pytest.raises(ConflictError, match="already captures 0.5 of its requests, not 1"):
        provider.create_endpoint("half", model="half", options={"capture_sample": 1.0})
    provider.create_endpoint("half", model="half", options={"capture_sample": 0.5})  # the same: converges


def test_capture_sample_is_an_endpoint_option_not_a_deploy_one(provider):
    version = provider.get_model_version("half", "v1")
    with pytest.raises(ValidationError, match="'capture_sample' does not apply to deploy .* create_endpoint"):
        provider.deploy("half", version, options={"capture_sample": 0.1})


def test_strict_is_met_locally_requests_off_the_schema_are_refused(provider):
    deployment = cloudeploy.deploy(fitted_classifier(0), "off", provider=provider, strict=True)
    rows = sample_instances(2)
    assert deployment.predict(rows) == fitted_classifier(0).predict(rows).tolist()
    with pytest.raises(ValidationError, match="expected 4 features, got 2"):
        deployment.predict([[0.1, 0.2]])
