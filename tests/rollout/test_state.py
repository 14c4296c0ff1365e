"""The rollout store on a provider's state store: state round-trips, compare-and-swap saves,
the endpoint lock, readable errors.

The store here is the local provider's (SQLite under a tmp home); the same
RolloutStore runs on the Vertex and SageMaker stores in
tests/reliability/test_cross_runner.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.providers.sqlite_store import LocalStateStore
from cloudeploy.providers.state_store import LockHeld, LockLost, break_lease
from cloudeploy.rollout.state import RolloutState, RolloutStore


def a_state(**changes) -> RolloutState:
    return RolloutState(endpoint="ep", provider="local", to_version="v2", plan={"steps": [50, 100]},
                        from_split={"v1": 100, "v2": 0}, **changes)


def a_store(home, endpoint="ep") -> RolloutStore:
    """A runner's view: its own store object on the shared backend."""
    return RolloutStore(LocalStateStore(home), "local", endpoint)


def test_saved_state_loads_back_equal_from_another_store_object(tmp_path):
    state = a_state(step_index=1, step_started_at=12.5, decisions=[{"action": "step"}])
    a_store(tmp_path).save(state)
    assert a_store(tmp_path).load() == state


def test_no_state_loads_as_none(tmp_path):
    assert a_store(tmp_path).load() is None


def test_a_save_over_a_state_someone_else_changed_is_refused(tmp_path):
    mine, theirs = a_store(tmp_path), a_store(tmp_path)
    mine.save(a_state())
    theirs.load()
    theirs.save(a_state(status="interrupted"))
    with pytest.raises(LockLost, match="changed by another process"):
        mine.save(a_state(step_index=0))
    assert a_store(tmp_path).load().status == "interrupted"


def test_corrupt_state_file_is_one_error_naming_the_file(tmp_path):
    (tmp_path / "workflow.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValidationError, match="workflow.db"):
        a_store(tmp_path).load()


def test_lock_held_by_another_process_is_refused_naming_it_and_taken_over_when_it_died(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from cloudeploy.providers.sqlite_store import LocalStateStore; "
         "from cloudeploy.rollout.state import RolloutStore; "
         f"s = RolloutStore(LocalStateStore({str(tmp_path)!r}), 'local', 'ep'); s.acquire('promote v2'); "
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"promote v2 by .*pid {holder.pid}") as refused:
            a_store(tmp_path).acquire("promote v3")
        assert "since" in refused.value.message and not refused.value.stale
    finally:
        holder.kill()
        holder.wait(timeout=30)
    reports = []
    store = a_store(tmp_path)
    store.acquire("promote v3", progress=reports.append)  # its holder is gone from this very host
    assert any(f"pid {holder.pid}" in line and "gone" in line for line in reports)
    store.release()


def test_break_lock_names_the_holder(tmp_path):
    first = a_store(tmp_path)
    first.acquire("promote v2")
    try:
        reports = []
        import threading

        second = a_store(tmp_path)
        thread = threading.Thread(target=lambda: second.acquire("promote v3", break_lock=True,
                                                                progress=reports.append))
        thread.start()
        thread.join()
        assert second.holds_lock
        assert "broke the lock on ep" in reports[0] and "promote v2" in reports[0] and "since" in reports[0]
        with pytest.raises(LockLost):
            first.check_lock()
    finally:
        first.release()
    assert a_store(tmp_path).lock.holder().purpose == "promote v3"  # the broken holder did not delete it


def test_locks_of_different_endpoints_are_independent(tmp_path):
    first, second = a_store(tmp_path, "a"), a_store(tmp_path, "b")
    with first.locked(), second.locked():
        assert first.holds_lock and second.holds_lock


def test_asking_whether_locked_keeps_the_own_lock(tmp_path):
    store = a_store(tmp_path)
    with store.locked():
        assert store.is_locked() is False
        assert a_store(tmp_path).is_locked() is True
    assert a_store(tmp_path).is_locked() is False


def test_lock_refusal_is_a_conflict_error():
    assert issubclass(LockHeld, ConflictError)


def test_decisions_carry_iso_8601_times_and_still_round_trip():
    from cloudeploy.rollout.result import Decision

    decision = Decision("step", 0, 10, {"v1": 90, "v2": 10}, "canary", at=1_796_650_000.25)
    data = decision.to_dict()
    assert data["time"] == "2026-12-07T13:26:40.250Z"
    assert Decision.from_dict(data) == decision


def test_break_lease_of_a_free_lock_is_none(tmp_path):
    assert break_lease(LocalStateStore(tmp_path), "locks/endpoints/ep") is None
