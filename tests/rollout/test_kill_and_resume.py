"""A `cloudeploy promote` process killed with SIGKILL mid-bake, on the local provider.

The promote runs as a real CLI process; the test kills it once its first step
is baking, then resumes or rolls back in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import cloudeploy
from cloudeploy.errors import ConflictError
from cloudeploy.rollout import RolloutPlan
from cloudeploy.rollout.state import store_for

BAKE_S = 3.0


def wait_for(check, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def baking_promote(endpoint, tmp_path):
    """A `cloudeploy promote ep --to v2 --steps 50,100` process, returned while step 1 bakes."""
    store = store_for(endpoint.provider, "ep")
    log = (tmp_path / "promote.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudeploy.cli", "promote", "ep", "--to", "v2", "--steps", "50,100",
         "--bake", f"{BAKE_S}s", "--min-requests", "0", "--no-live", "--output", "json"],
        stdout=log, stderr=subprocess.STDOUT, env=endpoint.env(),
    )
    try:
        wait_for(lambda: (s := store.load()) is not None and s.step_started_at is not None,
                 what="the promote to start baking its first step")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        log.close()


def test_second_promote_on_the_same_endpoint_is_refused_while_one_runs(endpoint, baking_promote):
    with pytest.raises(ConflictError, match="endpoint ep is being promoted: promote v2 by .* since "):
        cloudeploy.promote("ep", "v2", plan=RolloutPlan(steps=(100,), bake_s=0), provider=endpoint.provider)
    assert baking_promote.poll() is None


def test_resume_after_sigkill_continues_from_the_recorded_step(endpoint, baking_promote):
    baking_promote.kill()
    baking_promote.wait(timeout=30)
    killed = store_for(endpoint.provider, "ep").load()
    assert (killed.status, killed.step_index) == ("running", 0)

    result = cloudeploy.promote("ep", resume=True, provider=endpoint.provider)

    assert result.outcome == "promoted"
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}
    actions = [(d.action, d.percent) for d in result.decisions]
    assert actions == [("step", 50), ("resume", 50), ("proceed", 50), ("step", 100), ("promoted", 100)]
    proceed = next(d for d in result.decisions if d.action == "proceed")
    assert proceed.at - killed.step_started_at >= BAKE_S  # the bake window kept its start


def test_rollback_after_sigkill_returns_to_the_starting_split(endpoint, baking_promote):
    assert endpoint.provider.get_endpoint("ep").traffic.to_dict() == {"v1": 50, "v2": 50, "v3": 0, "v4": 0}
    baking_promote.kill()
    baking_promote.wait(timeout=30)

    status = cloudeploy.rollback("ep", provider=endpoint.provider)

    assert status.traffic.to_dict() == {"v1": 100, "v2": 0, "v3": 0, "v4": 0}
    assert store_for(endpoint.provider, "ep").load().status == "rolled_back"


def test_promote_process_that_is_left_alone_reports_promoted_as_json(endpoint, baking_promote, tmp_path):
    assert baking_promote.wait(timeout=60) == 0
    report = json.loads((tmp_path / "promote.log").read_text())
    assert report["outcome"] == "promoted"
    assert report["traffic"] == {"v1": 0, "v2": 100, "v3": 0, "v4": 0}


def test_sigterm_leaves_the_rollout_interrupted_with_the_split_where_it_was(endpoint, baking_promote):
    baking_promote.terminate()
    assert baking_promote.wait(timeout=30) == 130
    assert store_for(endpoint.provider, "ep").load().status == "interrupted"
    assert endpoint.provider.get_endpoint("ep").traffic.to_dict() == {"v1": 50, "v2": 50, "v3": 0, "v4": 0}
