"""The supervisor replaces a dead replica without holding up a traffic change meanwhile.

Process starts are replaced by fakes: what is tested is the locking and the
bookkeeping of the routing table, not the model server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from cloudeploy.providers.local.gateway import supervisor as supervisor_module
from cloudeploy.providers.local.gateway.routing import Replica
from cloudeploy.providers.local.gateway.supervisor import Supervisor, VersionPlan


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plan(version: str, replicas: int) -> VersionPlan:
    deployment = SimpleNamespace(min_replicas=replicas, max_replicas=replicas)
    return VersionPlan(version, f"/packages/{version}", False, deployment)


class FakeStarts:
    """Stands in for process starts: the health thread's start blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.health_start_entered = threading.Event()
        self.retired: list[Replica] = []
        self._ports = iter(range(20000, 21000))

    def start(self, plan: VersionPlan, model: str, count: int) -> list[Replica]:
        if threading.current_thread().name == "health":
            self.health_start_entered.set()
            assert self.release.wait(10), "test never released the health thread's start"
        return [Replica(plan.version, next(self._ports), os.getpid()) for _ in range(max(count, 0))]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    store = SimpleNamespace(home=tmp_path, endpoint=lambda name: SimpleNamespace(model="m"))
    supervisor = Supervisor(store, "ep")
    starts = FakeStarts()
    state = {
        "plans": {"v1": _plan("v1", 1), "v2": _plan("v2", 1)},
        "traffic": {"v1": 100, "v2": 0},
        "revision": 1,
    }
    monkeypatch.setattr(
        supervisor, "_plans", lambda: (state["plans"], state["traffic"], state["revision"])
    )
    monkeypatch.setattr(supervisor, "_start_replicas", starts.start)
    monkeypatch.setattr(supervisor, "_retire", starts.retired.extend)
    monkeypatch.setattr(supervisor_module, "pid_alive", lambda pid: pid == os.getpid())
    supervisor.reconcile()
    return supervisor, starts, state


def test_traffic_change_does_not_wait_for_a_replacement_replica(setup):
    supervisor, starts, state = setup
    victim = supervisor.table.replicas["v1"][0]
    victim.pid = _dead_pid()
    health = threading.Thread(target=supervisor.check_health, name="health")
    health.start()
    try:
        assert starts.health_start_entered.wait(10)
        state["traffic"], state["revision"] = {"v1": 50, "v2": 50}, 2
        changer = threading.Thread(target=supervisor.reconcile, name="traffic-change")
        changer.start()
        changer.join(5)
        assert not changer.is_alive(), "the traffic change waited for the replacement replica"
        assert supervisor.table.traffic == {"v1": 50, "v2": 50}
    finally:
        starts.release.set()
        health.join(10)


def test_replacement_that_is_no_longer_needed_is_retired(setup):
    supervisor, starts, _ = setup
    supervisor.table.replicas["v1"][0].pid = _dead_pid()
    health = threading.Thread(target=supervisor.check_health, name="health")
    health.start()
    assert starts.health_start_entered.wait(10)
    supervisor.reconcile()  # meanwhile a change starts v1's missing replica itself
    starts.release.set()
    health.join(10)
    assert len(supervisor.table.replicas["v1"]) == 1
    assert len(starts.retired) == 1 and starts.retired[0].version == "v1"


def test_replacement_joins_its_version(setup):
    supervisor, starts, _ = setup
    survivor = supervisor.table.replicas["v2"][0]
    supervisor.table.replicas["v1"][0].pid = _dead_pid()
    starts.release.set()
    supervisor.check_health()
    assert len(supervisor.table.replicas["v1"]) == 1
    assert supervisor.table.replicas["v1"][0].pid == os.getpid()
    assert supervisor.table.replicas["v2"] == (survivor,)
    assert starts.retired == []


def test_replacement_for_a_removed_version_is_retired(setup):
    supervisor, starts, state = setup
    supervisor.table.replicas["v2"][0].pid = _dead_pid()
    health = threading.Thread(target=supervisor.check_health, name="health")
    health.start()
    assert starts.health_start_entered.wait(10)
    state["plans"] = {"v1": state["plans"]["v1"]}
    state["traffic"], state["revision"] = {"v1": 100}, 2
    supervisor.reconcile()
    starts.release.set()
    health.join(10)
    assert "v2" not in supervisor.table.replicas
    assert [r.version for r in starts.retired] == ["v2"]
