"""The providers' state stores: compare-and-swap semantics and the lease, on all three backends.

Local is SQLite under a tmp home; Vertex AI goes through google-cloud-storage to
the emulator's Cloud Storage (``ifGenerationMatch``); SageMaker through boto3 to
the emulation's S3 (``If-None-Match`` / ``If-Match``). Each store is the one the
provider itself hands out (``provider.state_store()``).
"""

from __future__ import annotations

import threading
import time

import pytest

from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.providers import state_store as lease_module
from cloudeploy.providers.state_store import (
    Holder,
    Lease,
    LockHeld,
    LockLost,
    PreconditionFailed,
    break_lease,
    peek,
)


@pytest.fixture(scope="module")
def vertex_store(vertex_emulator_session):
    from cloudeploy.providers.vertex.sdk import VertexClients
    from cloudeploy.providers.vertex.settings import VertexSettings
    from cloudeploy.providers.vertex.state_store import GcsStateStore

    settings = vertex_emulator_session.profile_settings(bucket="state-store-unit")
    return GcsStateStore(VertexClients(VertexSettings.from_profile("emu", settings)))


@pytest.fixture(scope="module")
def sagemaker_store(sagemaker_emulator_session):
    from cloudeploy.providers.sagemaker.client import Clients
    from cloudeploy.providers.sagemaker.settings import SageMakerSettings
    from cloudeploy.providers.sagemaker.state_store import S3StateStore

    settings = sagemaker_emulator_session.profile_settings()
    return S3StateStore(Clients(SageMakerSettings.from_profile("emu", settings)))


@pytest.fixture(params=["local", "vertex", "sagemaker"])
def store(request, tmp_path):
    """A state store of each provider (the class its ``state_store()`` hands out), keys unique to the test."""
    if request.param == "local":
        from cloudeploy.providers.sqlite_store import LocalStateStore

        found = LocalStateStore(tmp_path)
    else:
        found = request.getfixturevalue(f"{request.param}_store")
    found.test_prefix = f"t{time.monotonic_ns()}"
    return found


def key(store, name: str) -> str:
    return f"{store.test_prefix}/{name}"


def test_create_if_absent_succeeds_once(store):
    first = store.create(key(store, "a"), {"n": 1})
    with pytest.raises(PreconditionFailed):
        store.create(key(store, "a"), {"n": 2})
    assert store.get(key(store, "a")) == first
    assert first.value == {"n": 1}


def test_replace_if_unchanged_refuses_a_stale_version(store):
    first = store.create(key(store, "b"), {"n": 1})
    second = store.replace(key(store, "b"), {"n": 2}, first.version)
    assert second.version != first.version
    with pytest.raises(PreconditionFailed):
        store.replace(key(store, "b"), {"n": 3}, first.version)
    assert store.get(key(store, "b")).value == {"n": 2}


def test_the_same_value_written_again_gets_a_new_version(store):
    """No ABA: a writer holding the old version loses even if the value went back to what it read."""
    first = store.create(key(store, "aba"), {"n": 1})
    changed = store.replace(key(store, "aba"), {"n": 2}, first.version)
    back = store.replace(key(store, "aba"), {"n": 1}, changed.version)
    assert back.version != first.version
    with pytest.raises(PreconditionFailed):
        store.replace(key(store, "aba"), {"n": 9}, first.version)


def test_replace_of_a_missing_record_fails(store):
    with pytest.raises(PreconditionFailed):
        store.replace(key(store, "never"), {"n": 1}, "12345")
    assert store.get(key(store, "never")) is None


def test_conditional_delete(store):
    first = store.create(key(store, "c"), {"n": 1})
    second = store.replace(key(store, "c"), {"n": 2}, first.version)
    with pytest.raises(PreconditionFailed):
        store.delete(key(store, "c"), first.version)
    assert store.delete(key(store, "c"), second.version) is True
    assert store.get(key(store, "c")) is None
    assert store.delete(key(store, "c")) is False
    assert store.create(key(store, "c"), {"n": 3}).value == {"n": 3}  # free again


def test_racing_creators_exactly_one_wins(store):
    winners, losers = [], []
    barrier = threading.Barrier(6)

    def contend(number: int) -> None:
        barrier.wait()
        try:
            store.create(key(store, "race"), {"winner": number})
            winners.append(number)
        except PreconditionFailed:
            losers.append(number)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 5
    assert store.get(key(store, "race")).value == {"winner": winners[0]}


def test_update_loses_no_increment_under_contention(store):
    def bump(value):
        value = value or {"n": 0}
        return {"n": value["n"] + 1}

    threads = [threading.Thread(target=lambda: [store.update(key(store, "counter"), bump) for _ in range(3)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get(key(store, "counter")).value == {"n": 12}


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "a//b", "ep\n", "", "a/../b"])
def test_unsafe_keys_are_refused(store, bad):
    with pytest.raises(ValidationError):
        store.get(bad)


def test_a_second_lease_is_refused_naming_the_holder(store):
    with Lease(store, key(store, "lock"), purpose="promote v2", heartbeat_s=0) as first:
        with pytest.raises(LockHeld) as refused:
            _acquire_in_thread(Lease(store, key(store, "lock"), purpose="set traffic"))
        holder = refused.value.holder
        assert (holder.pid, holder.purpose, holder.token) == (first.holder.pid, "promote v2", first.holder.token)
        assert "promote v2" in refused.value.message and "since" in refused.value.message
        assert not refused.value.stale
    assert peek(store, key(store, "lock")) is None  # released


def _try(lease, out):
    try:
        lease.acquire()
        out.append(AssertionError("a second lease was granted"))
    except LockHeld as error:
        out.append(error)


def test_a_lease_is_reentrant_in_its_own_thread(store):
    name = key(store, "reentrant")
    with Lease(store, name, purpose="promote", heartbeat_s=0):
        with Lease(store, name, purpose="set traffic"):
            assert peek(store, name).purpose == "promote"
        assert peek(store, name) is not None  # the inner release kept the outer hold
    assert peek(store, name) is None


def test_heartbeat_renews_and_a_stale_holder_is_reported_not_taken(store, monkeypatch):
    name = key(store, "stale")
    lease = Lease(store, name, purpose="promote v2", heartbeat_s=0).acquire()
    before = peek(store, name).heartbeat
    time.sleep(0.02)
    lease.heartbeat()
    assert peek(store, name).heartbeat > before
    # Pretend the holder runs on another machine that stopped heartbeating a while ago.
    record = store.get(name)
    old = Holder.from_dict({**record.value, "host": "runner-elsewhere", "heartbeat": time.time() - 3600})
    store.replace(name, old.to_dict(), record.version)
    with pytest.raises(LockHeld) as refused:
        _acquire_in_thread(Lease(store, name, purpose="promote v2"))
    assert refused.value.stale and "--break-lock" in refused.value.hint
    assert "runner-elsewhere" in refused.value.message
    # The stale holder's next heartbeat fails: its lease was changed under it.
    with pytest.raises(LockLost):
        lease.heartbeat()
    lease.release()
    assert peek(store, name).host == "runner-elsewhere"  # a lost lease is not deleted by its former holder


def _acquire_in_thread(lease):
    out = []
    thread = threading.Thread(target=lambda: _try(lease, out))
    thread.start()
    thread.join()
    raise out[0]


def test_break_lease_names_the_holder_and_the_holder_finds_out(store):
    name = key(store, "broken")
    lease = Lease(store, name, purpose="promote v2", heartbeat_s=0).acquire()
    broken = break_lease(store, name)
    assert broken.token == lease.holder.token and broken.purpose == "promote v2"
    with pytest.raises(LockLost):
        lease.check()
    taken = Lease(store, name, purpose="promote v3", heartbeat_s=0)
    _acquire_fresh(taken)
    lease.release()  # must not delete the new holder's lease
    assert peek(store, name).purpose == "promote v3"
    taken.release()


def _acquire_fresh(lease):
    out = []
    thread = threading.Thread(target=lambda: out.append(lease.acquire()))
    thread.start()
    thread.join()
    assert out


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_and_reported(store):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = key(store, "dead")
    holder = Holder.here("promote v2")
    store.create(name, {**holder.to_dict(), "pid": dead.pid})
    reports = []
    lease = Lease(store, name, purpose="promote v2", heartbeat_s=0).acquire(report=reports.append)
    assert lease.held and f"pid {dead.pid}" in reports[0] and "gone" in reports[0]
    lease.release()


def test_background_heartbeat_keeps_a_lease_fresh(store, monkeypatch):
    monkeypatch.setattr(lease_module, "STALE_AFTER_S", 0.5)
    name = key(store, "beating")
    with Lease(store, name, purpose="promote", heartbeat_s=0.1):
        time.sleep(0.8)
        assert not peek(store, name).is_stale()


def test_lock_held_is_a_conflict_error():
    assert issubclass(LockHeld, ConflictError) and issubclass(PreconditionFailed, ConflictError)
