"""The file rollout store: atomic writes, the lock, and readable errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.rollout.state import FileRolloutStore, RolloutState


def a_state(**changes) -> RolloutState:
    return RolloutState(endpoint="ep", provider="local", to_version="v2", plan={"steps": [50, 100]},
                        from_split={"v1": 100, "v2": 0}, **changes)


def test_saved_state_loads_back_equal(tmp_path):
    store = FileRolloutStore(tmp_path, "local", "ep")
    state = a_state(step_index=1, step_started_at=12.5, decisions=[{"action": "step"}])
    store.save(state)
    assert store.load() == state


def test_save_leaves_only_the_state_file_behind(tmp_path):
    store = FileRolloutStore(tmp_path, "local", "ep")
    store.save(a_state())
    store.save(a_state(status="promoted"))
    assert sorted(p.name for p in store.directory.iterdir()) == ["local-ep.json"]


def test_no_state_loads_as_none(tmp_path):
    assert FileRolloutStore(tmp_path, "local", "ep").load() is None


def test_corrupt_state_is_an_error_naming_the_file(tmp_path):
    store = FileRolloutStore(tmp_path, "local", "ep")
    store.directory.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(ValidationError, match="local-ep.json"):
        store.load()


def test_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    store = FileRolloutStore(tmp_path, "local", "ep")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from cloudeploy.rollout.state import FileRolloutStore; "
         f"s = FileRolloutStore({str(tmp_path)!r}, 'local', 'ep'); s.acquire(); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConflictError, match="another promote is running"):
            store.acquire()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    store.acquire()
    store.release()


def test_locks_of_different_endpoints_are_independent(tmp_path):
    first, second = FileRolloutStore(tmp_path, "local", "a"), FileRolloutStore(tmp_path, "local", "b")
    with first.locked(), second.locked():
        assert first.holds_lock and second.holds_lock


def test_asking_whether_locked_keeps_the_own_lock(tmp_path):
    store = FileRolloutStore(tmp_path, "local", "ep")
    with store.locked():
        assert store.is_locked() is False
        with pytest.raises(ConflictError):
            FileRolloutStore(tmp_path, "local", "ep").acquire()


def test_decisions_carry_iso_8601_times_and_still_round_trip():
    from cloudeploy.rollout.result import Decision

    decision = Decision("step", 0, 10, {"v1": 90, "v2": 10}, "canary", at=1_796_650_000.25)
    data = decision.to_dict()
    assert data["time"] == "2026-12-07T13:26:40.250Z"
    assert Decision.from_dict(data) == decision
