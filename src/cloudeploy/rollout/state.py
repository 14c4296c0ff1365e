"""Persisted rollout state, so a killed ``promote`` can be resumed or rolled back from anywhere.

A :class:`RolloutState` holds everything needed to continue or undo a rollout:
the plan, the split it started from, the target version, the current step and
when it started, the decision log, the status (running, interrupted, rolling_back,
promoted, rolled_back), and the host, pid and heartbeat of the process running it.

A :class:`RolloutStore` keeps one state per endpoint and the endpoint's lock,
in the provider's state store (:meth:`Provider.state_store`, see
:mod:`cloudeploy.providers.state_store`): SQLite under the local provider's
home, an object in the staging bucket on Vertex AI, an S3 object on SageMaker.
So a rollout started on one machine (a CI runner that is gone) is resumed or
rolled back from any other that has the profile. The record is
``rollouts/<endpoint>``; every save is a compare-and-swap against the record
this store last read or wrote, so a runner whose lock was broken cannot
overwrite its successor's state. The lock is the endpoint's lock
(:mod:`cloudeploy.rollout.endpoint`), which every command that changes the
endpoint's traffic takes too: while a promote holds it, nothing else changes
the split through cloudeploy.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ValidationError
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.state_store import LockLost, PreconditionFailed, StateStore, host_name
from cloudeploy.rollout.endpoint import EndpointLock, state_store_of

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider

RUNNING = "running"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"
ROLLING_BACK = "rolling_back"  # a gate broke; the starting split is being restored
INTERRUPTED = "interrupted"
FINISHED = frozenset({PROMOTED, ROLLED_BACK})


@dataclass
class RolloutState:
    """One rollout of ``to_version`` on ``endpoint``.

    ``step_index`` is the step being applied or baked (-1 before the first);
    ``step_started_at`` is the wall-clock time its split was in place (None
    while it is being applied). ``decisions`` are :class:`Decision` dicts in
    order. A state whose status is ``running`` but whose lock is free belongs
    to a process that died: it is as good as ``interrupted``.
    """

    endpoint: str
    provider: str
    to_version: str
    plan: dict[str, Any]
    from_split: dict[str, int]
    status: str = RUNNING
    step_index: int = -1
    step_started_at: float | None = None
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    heartbeat: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=host_name)
    reason: str = ""
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class RolloutStore:
    """One endpoint's rollout state (``rollouts/<endpoint>``) and lock, in a provider's state store."""

    def __init__(self, store: StateStore, provider: str, endpoint: str) -> None:
        self.store = store
        self.provider = provider
        self.endpoint = endpoint
        self.key = f"rollouts/{endpoint}"
        self.lock = EndpointLock(store, endpoint)
        self._version: str | None = None
        self._loaded = False

    def load(self) -> RolloutState | None:
        """The recorded state, or None if no rollout was ever recorded."""
        record = self.store.get(self.key)
        self._version, self._loaded = (record.version if record else None), True
        if record is None:
            return None
        try:
            return RolloutState.from_dict(record.value)
        except (ValueError, TypeError) as error:
            raise ValidationError(
                f"rollout state {self.key} in {self.store.location} is unreadable: {error}",
                hint="delete it if no rollout is in progress on this endpoint",
            ) from None

    def save(self, state: RolloutState) -> None:
        """Record ``state``, whole, if the record is still the one this store last read or wrote.

        ConflictError (LockLost) if someone else changed it meanwhile: this
        process lost the endpoint to another (its lock was broken).
        """
        self.lock.check_not_lost()
        state.updated_at = time.time()
        if not self._loaded:
            current = self.store.get(self.key)
            self._version, self._loaded = (current.version if current else None), True
        try:
            if self._version is None:
                record = self.store.create(self.key, state.to_dict())
            else:
                record = self.store.replace(self.key, state.to_dict(), self._version)
        except PreconditionFailed:
            current = self.store.get(self.key)
            if current is not None and current.value == state.to_dict():
                self._version = current.version  # a retried write whose first attempt had landed
                return
            raise LockLost(
                f"the rollout state of {self.endpoint} was changed by another process "
                f"(was the lock broken?); this run stops without touching traffic",
                hint=f"see where it stands: cloudeploy promote {self.endpoint} --dry-run",
            ) from None
        self._version = record.version

    def clear(self) -> None:
        """Forget the recorded rollout (tests; an operator cleaning up by hand)."""
        self.store.delete(self.key)
        self._version, self._loaded = None, True

    # -- the lock: the endpoint's --------------------------------------------------

    def acquire(self, purpose: str = "promote", *, break_lock: bool = False,
                progress: ProgressCallback = no_progress) -> None:
        """Take the endpoint's lock; LockHeld (a ConflictError) naming the holder otherwise.

        Waits a while for a short command holding it, never for a promote.
        """
        self.lock.acquire(purpose, break_lock=break_lock, progress=progress)

    def release(self) -> None:
        self.lock.release()

    @property
    def holds_lock(self) -> bool:
        return self.lock.held

    def check_lock(self) -> None:
        """LockLost if the lock this process holds was broken (reads the store)."""
        self.lock.check()

    def is_locked(self) -> bool:
        """Whether another process holds the endpoint's lock right now (never this store's own hold)."""
        if self.holds_lock:
            return False
        return self.lock.holder() is not None

    @contextlib.contextmanager
    def locked(self, purpose: str = "promote", *, break_lock: bool = False,
               progress: ProgressCallback = no_progress) -> Iterator[RolloutStore]:
        self.acquire(purpose, break_lock=break_lock, progress=progress)
        try:
            yield self
        finally:
            self.release()


def store_for(provider: Provider, endpoint: str) -> RolloutStore:
    """The rollout store of ``endpoint``, in the provider's state store (:func:`state_store_of`)."""
    return RolloutStore(state_store_of(provider), provider.name or "provider", endpoint)
