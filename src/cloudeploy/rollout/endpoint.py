"""The endpoint's lock and its split history, kept in the provider's state store.

**The lock.** Every command that changes an endpoint's traffic (deploy, traffic,
undeploy, promote and each of its steps, rollback, delete) reads the split,
changes it and writes it while holding ``locks/endpoints/<endpoint>``, a
:class:`~cloudeploy.providers.state_store.Lease` that names its holder. A
short command waits up to :data:`WAIT_S` for another short command to finish;
a promote holds the lock for its whole run, and a command meeting it is
refused at once, naming the promote (who, where, since when): a manual traffic
change never lands in the middle of a rollout only to be undone by its next
step. A lock whose holder is gone is broken explicitly (``--break-lock``),
never silently (see the lease's rules).

**The split history.** ``history/<endpoint>`` keeps the splits the endpoint had
before each change cloudeploy made (newest last, at most :data:`HISTORY_SIZE`).
:func:`rollback_target` walks it back: each ``rollback`` goes to the split before
the current one and drops what it went back over, so repeated rollbacks go
further back instead of flipping between two splits.
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.sqlite_store import LocalStateStore
from cloudeploy.providers.state_store import (
    Holder,
    Lease,
    LockHeld,
    LockLost,
    StateStore,
    break_lease,
    iso,
    peek,
)

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider

#: Seconds a short command waits for another short command holding the endpoint.
WAIT_S = 120.0
#: Splits remembered per endpoint for ``rollback``.
HISTORY_SIZE = 20
#: The purpose a promote's lock records; a command meeting it is refused at once.
PROMOTE = "promote"

_FALLBACK: weakref.WeakKeyDictionary[Any, StateStore] = weakref.WeakKeyDictionary()


def state_store_of(provider: Provider) -> StateStore:
    """The provider's state store; for a provider without one, SQLite under ``$CLOUDEPLOY_HOME``.

    The fallback (this machine only) lives under the provider's ``home`` if it
    has one, else ``$CLOUDEPLOY_HOME`` (default ``./.cloudeploy``). The same
    object is returned for one provider object (the lock is reentrant per store).
    """
    factory = getattr(provider, "state_store", None)
    found = factory() if callable(factory) else None
    if found is not None:
        return found
    if provider not in _FALLBACK:
        home = getattr(provider, "home", None) or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
        _FALLBACK[provider] = LocalStateStore(Path(home).resolve())
    return _FALLBACK[provider]


def lock_key(endpoint: str) -> str:
    return f"locks/endpoints/{endpoint}"


class EndpointLock:
    """``locks/endpoints/<endpoint>`` in ``store``: taken by promotes and by every traffic change."""

    def __init__(self, store: StateStore, endpoint: str) -> None:
        self.store = store
        self.endpoint = endpoint
        self.key = lock_key(endpoint)
        self._lease: Lease | None = None

    @property
    def held(self) -> bool:
        return self._lease is not None and self._lease.held

    def holder(self) -> Holder | None:
        return peek(self.store, self.key)

    def acquire(self, purpose: str, *, wait: float = WAIT_S, break_lock: bool = False,
                progress: ProgressCallback = no_progress) -> None:
        """Take the lock (see the module docstring); LockHeld naming the holder if refused.

        ``break_lock`` first breaks a lock held by anyone else, saying whose it was.
        """
        if self.held:
            return
        if break_lock:
            broken = break_lease(self.store, self.key)
            if broken is not None:
                progress(f"broke the lock on {self.endpoint}: it was held for {broken.describe()}")
        lease = Lease(self.store, self.key, purpose=purpose)
        try:
            lease.acquire(wait=wait, report=progress, refuse_wait=lambda holder: holder.purpose.startswith(PROMOTE))
        except LockHeld as error:
            raise refusal(self.endpoint, error.holder, purpose) from None
        self._lease = lease

    def release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def check(self) -> None:
        """LockLost if the lock was broken since this process took it (reads the store)."""
        if self._lease is not None:
            self._lease.check()

    def check_not_lost(self) -> None:
        """LockLost if the heartbeat already found the lock broken (no store read)."""
        if self._lease is not None and self._lease.lost is not None:
            raise LockLost(self._lease.lost)


def refusal(endpoint: str, holder: Holder, purpose: str) -> LockHeld:
    """The one-line ConflictError for ``purpose`` meeting ``holder`` on ``endpoint``."""
    stale = holder.is_stale()
    doing = "being promoted" if holder.purpose.startswith(PROMOTE) else "being changed"
    message = f"endpoint {endpoint} is {doing}: {holder.describe()}; refused to {purpose}"
    if stale:
        hint = (f"its holder stopped heartbeating at {iso(holder.heartbeat)} and may be gone; if no process "
                f"works on {endpoint} any more, break the lock explicitly with --break-lock")
    elif holder.purpose.startswith(PROMOTE):
        hint = (f"wait for the promote to end or stop it (Ctrl-C, cancel its job; then cloudeploy rollback "
                f"{endpoint} or promote --resume); if its runner is gone for good, add --break-lock")
    else:
        hint = "retry in a moment; if its holder is gone for good, add --break-lock"
    return LockHeld(message, holder=holder, stale=stale, hint=hint)


@contextlib.contextmanager
def endpoint_lock(provider: Provider, endpoint: str, purpose: str, *, wait: float = WAIT_S,
                  break_lock: bool = False, progress: ProgressCallback = no_progress) -> Iterator[EndpointLock]:
    """``with endpoint_lock(provider, "house", "set traffic"):`` read, change and write the split."""
    lock = EndpointLock(state_store_of(provider), endpoint)
    lock.acquire(purpose, wait=wait, break_lock=break_lock, progress=progress)
    try:
        yield lock
    finally:
        lock.release()


# -- the split history ---------------------------------------------------------------


def _history_key(endpoint: str) -> str:
    return f"history/{endpoint}"


def served_split(split: dict[str, int] | Any) -> dict[str, int]:
    """The versions of ``split`` that get traffic, and their percentages (zeros dropped)."""
    return {str(v): int(p) for v, p in dict(split).items() if p}


def record_change(provider: Provider, endpoint: str, before: dict[str, int] | Any, *, by: str) -> None:
    """Remember ``before``, the split the endpoint had before a change ``by`` a command.

    Call it under the endpoint's lock, right before the change. An empty split
    or one equal to the newest remembered is not recorded twice.
    """
    split = served_split(before)
    if not split:
        return

    def push(value: dict[str, Any] | None) -> dict[str, Any] | None:
        entries = list((value or {}).get("splits", []))
        if entries and served_split(entries[-1]["split"]) == split:
            # A change after a rollback that died half-way: the rollback is over.
            return {k: v for k, v in value.items() if k != "rollback"} if "rollback" in (value or {}) else None
        entries.append({"split": split, "at": time.time(), "by": by})
        return {"endpoint": endpoint, "splits": entries[-HISTORY_SIZE:]}

    state_store_of(provider).update(_history_key(endpoint), push)


def history(provider: Provider, endpoint: str) -> list[dict[str, Any]]:
    """The remembered splits of ``endpoint``, oldest first: ``{"split", "at", "by"}``."""
    record = state_store_of(provider).get(_history_key(endpoint))
    return list(record.value.get("splits", [])) if record else []


def history_started(provider: Provider, endpoint: str) -> bool:
    """Whether cloudeploy keeps a split history for ``endpoint`` (even an exhausted one)."""
    return state_store_of(provider).get(_history_key(endpoint)) is not None


def rollback_target(provider: Provider, endpoint: str, current: dict[str, int] | Any,
                    deployed: set[str]) -> tuple[dict[str, int], int] | None:
    """The split ``rollback`` goes back to, and how many history entries it consumes.

    The newest remembered split that differs from ``current`` and names only
    ``deployed`` versions; None if there is none.
    """
    entries = history(provider, endpoint)
    now = served_split(current)
    for consumed, entry in enumerate(reversed(entries), start=1):
        split = served_split(entry["split"])
        if split != now and set(split) <= deployed:
            return split, consumed
    return None


def begin_rollback(provider: Provider, endpoint: str, split: dict[str, int], consumed: int) -> None:
    """Remember, before its traffic change, where a rollback goes and what it consumes.

    A rollback killed between its traffic change and :func:`forget_newest` would
    otherwise, run again, see the split it went to as the current one and go one
    change further back. :func:`pending_rollback` reads the mark; ``forget_newest``
    and a new change (:func:`record_change`) clear it.
    """
    def mark(value: dict[str, Any] | None) -> dict[str, Any]:
        return {**(value or {"endpoint": endpoint, "splits": []}),
                "rollback": {"split": served_split(split), "consumes": consumed}}

    state_store_of(provider).update(_history_key(endpoint), mark)


def pending_rollback(provider: Provider, endpoint: str, deployed: set[str]) -> tuple[dict[str, int], int] | None:
    """The target and count of a rollback that began and did not finish, if its versions are still deployed."""
    record = state_store_of(provider).get(_history_key(endpoint))
    pending = record.value.get("rollback") if record else None
    if not pending or not set(pending["split"]) <= deployed:
        return None
    return served_split(pending["split"]), int(pending["consumes"])


def forget_newest(provider: Provider, endpoint: str, count: int) -> None:
    """Drop the ``count`` newest remembered splits (those a rollback went back over), and its mark."""

    def drop(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if not value:
            return None
        kept = {k: v for k, v in value.items() if k != "rollback"}
        return {**kept, "splits": list(value.get("splits", []))[:-count]} if count > 0 else kept

    state_store_of(provider).update(_history_key(endpoint), drop)


def forget_endpoint(provider: Provider, endpoint: str) -> None:
    """Delete what is remembered of ``endpoint`` (after the endpoint was deleted)."""
    store = state_store_of(provider)
    store.delete(_history_key(endpoint))
    store.delete(f"rollouts/{endpoint}")

