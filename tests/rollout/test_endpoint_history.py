"""The endpoint's lock and split history (cloudeploy.rollout.endpoint), on the local provider and the fake.

- Repeated ``rollback`` walks back the splits the endpoint had, one change per
  call, instead of flipping between the last two; it stops, in one line, when
  nothing older is remembered.
- A rollback killed between its traffic change and its history update ends,
  run again, where it was going, instead of going one change further back.
- Two traffic changes at once are serialized by the endpoint's lock: the second
  reads the split only after the first wrote it (nothing lost from the history).
- A split changed around the lock (a console, another tool) while a promote
  runs ends the promote at its next step, without undoing the change.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

import cloudeploy.api as api
from cloudeploy.errors import ConflictError
from cloudeploy.rollout import RolloutPlan, run_promotion
from cloudeploy.rollout.endpoint import history, state_store_of
from cloudeploy.rollout.state import store_for
from tests.rollout.conftest import ENDPOINT
from tests.rollout.fakes import FakeClock, FakeProvider


def served(provider_or_status) -> dict[str, int]:
    status = getattr(provider_or_status, "get_endpoint", None)
    status = status(ENDPOINT) if status else provider_or_status
    return {v: p for v, p in status.traffic.items() if p}


@pytest.fixture
def local(endpoint):
    state_store_of(endpoint.provider).delete(f"history/{ENDPOINT}")
    return endpoint.provider


def test_repeated_rollbacks_walk_back_the_history_instead_of_flipping(local):
    changes = [{"v1": 50, "v2": 50}, {"v2": 100}, {"v2": 90, "v3": 10}]
    for split in changes:
        api.set_traffic(ENDPOINT, split, provider=local)

    walked = [served(api.rollback(ENDPOINT, provider=local)) for _ in range(3)]

    assert walked == [{"v2": 100}, {"v1": 50, "v2": 50}, {"v1": 100}]
    with pytest.raises(ConflictError, match="no earlier traffic split"):
        api.rollback(ENDPOINT, provider=local)
    assert served(local) == {"v1": 100}


def test_a_rollback_killed_after_its_traffic_change_finishes_when_run_again(local, endpoint):
    for split in ({"v1": 50, "v2": 50}, {"v2": 100}):
        api.set_traffic(ENDPOINT, split, provider=local)

    killed = subprocess.run(
        [sys.executable, "-m", "cloudeploy.cli", "rollback", ENDPOINT],
        env={**endpoint.env(), "CLOUDEPLOY_TEST_CRASH_AT": "rollback.after_traffic"},
        capture_output=True, text=True, timeout=180,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert served(local) == {"v1": 50, "v2": 50}  # the change was made, the history not yet updated
    assert served(api.rollback(ENDPOINT, provider=local)) == {"v1": 50, "v2": 50}  # finished, not further
    assert served(api.rollback(ENDPOINT, provider=local)) == {"v1": 100}  # the next one walks on
    with pytest.raises(ConflictError, match="no earlier traffic split"):
        api.rollback(ENDPOINT, provider=local)


def test_a_change_after_a_rollback_that_died_ends_that_rollback(local):
    """A traffic change made after a killed rollback is what the next rollback undoes."""
    from cloudeploy.rollout.endpoint import begin_rollback

    api.set_traffic(ENDPOINT, {"v1": 50, "v2": 50}, provider=local)
    api.set_traffic(ENDPOINT, {"v2": 100}, provider=local)
    begin_rollback(local, ENDPOINT, {"v1": 50, "v2": 50}, 1)  # as a rollback killed before its change
    api.set_traffic(ENDPOINT, {"v2": 70, "v3": 30}, provider=local)

    assert served(api.rollback(ENDPOINT, provider=local)) == {"v2": 100}


def test_a_change_after_a_rollback_is_rolled_back_first(local):
    api.set_traffic(ENDPOINT, {"v1": 50, "v2": 50}, provider=local)
    api.set_traffic(ENDPOINT, {"v2": 100}, provider=local)
    api.rollback(ENDPOINT, provider=local)  # -> v1=50, v2=50
    api.set_traffic(ENDPOINT, {"v1": 80, "v4": 20}, provider=local)

    assert served(api.rollback(ENDPOINT, provider=local)) == {"v1": 50, "v2": 50}
    assert served(api.rollback(ENDPOINT, provider=local)) == {"v1": 100}


def test_concurrent_traffic_changes_are_serialized_by_the_endpoint_lock(local, monkeypatch):
    original = local.set_traffic
    windows: list[tuple[str, float, float]] = []

    def slow_set_traffic(endpoint, split, **kwargs):
        start = time.monotonic()
        time.sleep(0.5)
        result = original(endpoint, split, **kwargs)
        windows.append((",".join(split), start, time.monotonic()))
        return result

    monkeypatch.setattr(local, "set_traffic", slow_set_traffic)
    errors = []

    def change(split):
        try:
            api.set_traffic(ENDPOINT, split, provider=local)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    first = threading.Thread(target=change, args=({"v1": 50, "v2": 50},))
    second = threading.Thread(target=change, args=({"v2": 100},))
    first.start()
    time.sleep(0.1)
    second.start()
    first.join()
    second.join()

    assert errors == []
    (_, _, first_end), (_, second_start, _) = sorted(windows, key=lambda w: w[1])
    assert second_start >= first_end  # never both inside a read-change-write
    assert served(local) == {"v2": 100}
    assert [entry["split"] for entry in history(local, ENDPOINT)] == [{"v1": 100}, {"v1": 50, "v2": 50}]


def test_a_split_changed_around_the_lock_ends_the_promote_without_undoing_it(tmp_path):
    clock = FakeClock()
    provider = FakeProvider(tmp_path, clock)
    plan = RolloutPlan(steps=(10, 50, 100), bake_s=10, min_requests=20, max_error_rate=0.05)

    def console_change(seconds):
        if provider.split == {"v1": 90, "v2": 10}:
            provider.split = {"v1": 70, "v2": 30}  # someone moved traffic in the cloud console
            clock.on_sleep = None

    clock.on_sleep = console_change
    with pytest.raises(ConflictError, match="changed outside this promote"):
        run_promotion(provider, "ep", "v2", plan, clock=clock, sleep=clock.sleep)

    assert provider.split == {"v1": 70, "v2": 30}  # the change stands
    assert provider.traffic_calls == [{"v1": 90, "v2": 10}]  # no step after it
    state = store_for(provider, "ep").load()
    assert state.status == "interrupted" and "changed outside this promote" in state.reason
    assert not store_for(provider, "ep").is_locked()
