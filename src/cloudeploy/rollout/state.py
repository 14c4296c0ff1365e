"""Persisted rollout state, so a killed ``promote`` can be resumed or rolled back.

A :class:`RolloutState` holds everything needed to continue or undo a rollout:
the plan, the split it started from, the target version, the current step and
when it started, the decision log, the status (running, interrupted, rolling_back,
promoted, rolled_back), and the pid and heartbeat of the
process running it.

A :class:`RolloutStore` keeps one state per endpoint and the lock that makes
two promotes on one endpoint impossible. The default, :class:`FileRolloutStore`,
writes ``<home>/rollouts/<provider>-<endpoint>.json`` atomically (temporary
file, then rename) and locks ``<same>.lock`` with an exclusive ``fcntl.flock``:
the OS releases the lock of a killed holder, which is what lets ``--resume``
and ``rollback`` take over after SIGKILL. A provider may keep state in the
cloud instead (resource labels/tags, a bucket object) by offering
``rollout_store(endpoint) -> RolloutStore``; :func:`store_for` picks it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ConflictError, ValidationError
from cloudeploy.private import private_dir, private_opener

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


class RolloutStore(ABC):
    """Where one endpoint's rollout state and lock live."""

    @abstractmethod
    def load(self) -> RolloutState | None:
        """The recorded state, or None if no rollout was ever recorded."""

    @abstractmethod
    def save(self, state: RolloutState) -> None:
        """Record ``state`` so that a crash at any point leaves the old or the new one, whole."""

    @abstractmethod
    def acquire(self) -> None:
        """Take the endpoint's rollout lock or raise ConflictError if another process holds it."""

    @abstractmethod
    def release(self) -> None:
        """Give the lock back (a no-op if not held)."""

    @property
    @abstractmethod
    def holds_lock(self) -> bool:
        """Whether this store object holds the lock."""

    def is_locked(self) -> bool:
        """Whether another process holds the lock right now (never this store's own hold)."""
        if self.holds_lock:
            return False
        try:
            self.acquire()
        except ConflictError:
            return True
        self.release()
        return False

    @contextlib.contextmanager
    def locked(self):
        self.acquire()
        try:
            yield self
        finally:
            self.release()


class FileRolloutStore(RolloutStore):
    """A JSON file and an flock'ed lock file under ``<home>/rollouts/``."""

    def __init__(self, home: str | Path, provider: str, endpoint: str) -> None:
        self.directory = Path(home) / "rollouts"
        stem = f"{provider}-{endpoint}".replace(os.sep, "_")
        self.path = self.directory / f"{stem}.json"
        self.lock_path = self.directory / f"{stem}.lock"
        self._lock_fd: int | None = None

    def load(self) -> RolloutState | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return RolloutState.from_dict(json.loads(text))
        except (ValueError, TypeError) as error:
            raise ValidationError(
                f"rollout state {self.path} is unreadable: {error}",
                hint="delete the file if no rollout is in progress on this endpoint",
            ) from None

    def save(self, state: RolloutState) -> None:
        private_dir(self.directory)
        state.updated_at = time.time()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", opener=private_opener) as handle:
            json.dump(state.to_dict(), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def acquire(self) -> None:
        import fcntl

        if self._lock_fd is not None:
            return
        private_dir(self.directory)
        fd = private_opener(str(self.lock_path), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            state = self.load()
            who = f" (pid {state.pid}, promoting {state.to_version})" if state else ""
            raise ConflictError(
                f"another promote is running on endpoint {self._endpoint_label()}{who}",
                hint="wait for it to finish, or stop it (Ctrl-C) and then use --resume or cloudeploy rollback",
            ) from None
        self._lock_fd = fd

    @property
    def holds_lock(self) -> bool:
        return self._lock_fd is not None

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _endpoint_label(self) -> str:
        return self.path.stem.split("-", 1)[-1]


def store_for(provider: Provider, endpoint: str) -> RolloutStore:
    """The provider's own store if it offers one, else a file store.

    Files go under the provider's ``home`` (the local provider), else under
    ``$CLOUDEPLOY_HOME`` (default ``./.cloudeploy``).
    """
    factory = getattr(provider, "rollout_store", None)
    if callable(factory):
        return factory(endpoint)
    home = getattr(provider, "home", None) or os.environ.get("CLOUDEPLOY_HOME") or ".cloudeploy"
    return FileRolloutStore(Path(home).resolve(), provider.name or "provider", endpoint)
