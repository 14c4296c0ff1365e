"""Workflow state that lives with the endpoint: small JSON records with compare-and-swap, and a lease.

A :class:`StateStore` keeps small JSON objects (a rollout's state, an endpoint's
split history, a lock) by key, where every machine that can reach the endpoint
can reach them too: the local provider in SQLite under its home, Vertex AI as
objects in the profile's staging bucket, SageMaker as S3 objects in the
profile's bucket. Writes can be conditional:

- :meth:`StateStore.create` writes only if the key does not exist (create-if-absent);
- :meth:`StateStore.replace` writes only if the record is still the one read
  (replace-if-unchanged, by the opaque ``version`` token of a :class:`Record`);
- :meth:`StateStore.delete` with ``version`` deletes only that record.

A lost race raises :class:`PreconditionFailed` (a ConflictError) and changes
nothing. Every write carries a fresh nonce, so a version token is never reused
even when the same value is written again (no ABA with S3 ETags). Backends
implement three primitives, ``_read``, ``_write`` and ``_remove``; the
compare-and-swap must be atomic on the backend's side (SQLite transaction,
``ifGenerationMatch``, ``If-None-Match``/``If-Match``).

A :class:`Lease` is a lock built on one record: it names its holder (host, pid,
user, command, what it is doing), since when it is held and its last
heartbeat, which a background thread renews. A held lease is never taken
silently: :meth:`Lease.acquire` raises :class:`LockHeld` naming the holder and
saying whether it still heartbeats. The one exception is a holder on this very
host whose process is gone (its pid no longer runs): that lease is taken over
and the take-over reported. Anything else is broken only on request
(:func:`break_lease`, ``--break-lock``); a holder whose lease was broken finds
out at its next heartbeat or :meth:`Lease.check` and stops
(:class:`LockLost`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cloudeploy.errors import ConflictError, ValidationError

#: Seconds between heartbeats of a held lease.
HEARTBEAT_S = 10.0
#: A lease not renewed for this long is reported as stale (its holder probably died).
STALE_AFTER_S = 60.0

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*\Z")

#: ``expect`` value of :meth:`StateStore._write`: the key must not exist.
ABSENT = object()


class PreconditionFailed(ConflictError):
    """A conditional write lost a race: the record exists, is gone, or changed since it was read."""


class LockHeld(ConflictError):
    """Someone else holds the lease; ``holder`` says who, ``stale`` whether it stopped heartbeating."""

    def __init__(self, message: str, *, holder: Holder, stale: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder
        self.stale = stale


class LockLost(ConflictError):
    """The lease this process held was broken (or taken) by someone else: stop changing things."""


@dataclass(frozen=True)
class Record:
    """One stored object: its ``value`` and the opaque ``version`` token a conditional write names."""

    key: str
    value: dict[str, Any]
    version: str


def check_key(key: str) -> str:
    """``key`` if it is a safe relative name (``rollouts/house``), else ValidationError."""
    if not isinstance(key, str) or not _KEY.match(key) or ".." in key:
        raise ValidationError(f"state key {key!r} is not a safe name (letters, digits, . _ - and /)")
    return key


class StateStore(ABC):
    """Small JSON records by key, with create-if-absent and replace-if-unchanged.

    ``location`` says where records live, for messages and docs
    (``gs://bucket/prefix/cloudeploy-state``). Values are JSON objects of a
    few kilobytes at most.
    """

    location: str = ""

    # -- the public operations --------------------------------------------------

    def get(self, key: str) -> Record | None:
        """The record under ``key``, or None if there is none."""
        found = self._read(check_key(key))
        if found is None:
            return None
        data, version = found
        try:
            envelope = json.loads(data)
            value = envelope["value"]
            if not isinstance(value, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError, KeyError) as error:
            raise ValidationError(
                f"state record {key} in {self.location} is unreadable: {error}",
                hint="delete it if no workflow is in progress on that endpoint",
            ) from None
        return Record(key, value, version)

    def create(self, key: str, value: dict[str, Any]) -> Record:
        """Write ``value`` only if ``key`` does not exist; PreconditionFailed if it does."""
        return self._put(key, value, ABSENT)

    def replace(self, key: str, value: dict[str, Any], version: str) -> Record:
        """Write ``value`` only if the record is still ``version``; PreconditionFailed otherwise (or if gone)."""
        if not version:
            raise ValidationError("replace() needs the version of the record it replaces")
        return self._put(key, value, version)

    def put(self, key: str, value: dict[str, Any]) -> Record:
        """Write ``value`` whatever is there (last writer wins: only for records one holder owns)."""
        return self._put(key, value, None)

    def delete(self, key: str, version: str | None = None) -> bool:
        """Delete ``key`` (only if it is still ``version``, when given); whether a record was deleted.

        With ``version``, a record that changed raises PreconditionFailed and one
        already gone returns False.
        """
        return self._remove(check_key(key), version)

    def update(self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None],
               *, attempts: int = 20) -> Record | None:
        """Read-modify-write ``key`` with compare-and-swap, retried when another writer got there first.

        ``change(value_or_None)`` returns the new value, or None to leave the
        record as it is. Returns the record written (or the one left).
        """
        for attempt in range(attempts):
            current = self.get(key)
            new = change(dict(current.value) if current else None)
            if new is None:
                return current
            try:
                return self.create(key, new) if current is None else self.replace(key, new, current.version)
            except PreconditionFailed:
                time.sleep(min(0.5, 0.01 * 2**attempt))
        raise PreconditionFailed(f"state record {key} in {self.location} kept changing; gave up after {attempts} tries")

    def _put(self, key: str, value: dict[str, Any], expect: Any) -> Record:
        if not isinstance(value, dict):
            raise ValidationError("a state record's value must be a JSON object")
        envelope = {"value": value, "nonce": uuid.uuid4().hex, "written_at": time.time()}
        data = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
        version = self._write(check_key(key), data, expect)
        return Record(key, json.loads(json.dumps(value)), version)

    # -- what a backend implements ----------------------------------------------

    @abstractmethod
    def _read(self, key: str) -> tuple[bytes, str] | None:
        """``(data, version)`` of ``key``, or None."""

    @abstractmethod
    def _write(self, key: str, data: bytes, expect: Any) -> str:
        """Store ``data`` under ``key`` atomically and return the new version.

        ``expect`` is None (unconditional), :data:`ABSENT` (the key must not
        exist) or a version (the record must still be that one). A failed
        condition raises PreconditionFailed and writes nothing.
        """

    @abstractmethod
    def _remove(self, key: str, expect: str | None) -> bool:
        """Delete ``key`` (only if still ``expect``, when given); whether something was deleted."""


# -- the lease -------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who holds a lease and since when (times are epoch seconds)."""

    host: str
    pid: int
    user: str
    command: str
    purpose: str
    since: float
    heartbeat: float
    token: str

    @classmethod
    def here(cls, purpose: str) -> Holder:
        now = time.time()
        return cls(host=host_name(), pid=os.getpid(), user=_user(), command=_command(), purpose=purpose,
                   since=now, heartbeat=now, token=uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holder:
        return cls(host=str(data.get("host", "?")), pid=int(data.get("pid", 0)), user=str(data.get("user", "?")),
                   command=str(data.get("command", "")), purpose=str(data.get("purpose", "")),
                   since=float(data.get("since", 0.0)), heartbeat=float(data.get("heartbeat", 0.0)),
                   token=str(data.get("token", "")))

    def age_of_heartbeat(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.heartbeat)

    def is_stale(self, now: float | None = None) -> bool:
        return self.age_of_heartbeat(now) > STALE_AFTER_S

    def gone_from_this_host(self) -> bool:
        """Whether the holder ran on this host and its process no longer exists."""
        if self.host != host_name() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self, now: float | None = None) -> str:
        """``promote v2 by ana@runner-7 (pid 412: cloudeploy promote ...) since 2026-12-07T14:05:01Z, ...``"""
        age = self.age_of_heartbeat(now)
        what = f"{self.purpose} " if self.purpose else ""
        command = f": {self.command}" if self.command else ""
        return (f"{what}by {self.user}@{self.host} (pid {self.pid}{command}) since {iso(self.since)}, "
                f"last heartbeat {age:.0f}s ago")


def host_name() -> str:
    return socket.gethostname() or "unknown-host"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container without /etc/passwd entry
        return str(os.getuid())


def _command() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv and sys.argv[0] else []
    text = " ".join(argv)
    return text[:200]


class Lease:
    """A lock on ``key`` in ``store``, held by this process (see the module docstring).

    Reentrant within one thread: acquiring a key this thread already holds
    through another Lease object of the same store object counts up and shares it.
    """

    def __init__(self, store: StateStore, key: str, *, purpose: str = "",
                 heartbeat_s: float | None = None) -> None:
        self.store = store
        self.key = check_key(key)
        self.purpose = purpose
        self.heartbeat_s = HEARTBEAT_S if heartbeat_s is None else heartbeat_s
        self.holder: Holder | None = None
        self._version: str | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self._shared: Lease | None = None

    # -- taking and giving back -------------------------------------------------

    @property
    def held(self) -> bool:
        return self._shared is not None or self.holder is not None

    @property
    def lost(self) -> str | None:
        """Why the lease was lost, once a heartbeat or :meth:`check` found it broken (no store read)."""
        return self._shared.lost if self._shared is not None else self._lost

    def acquire(self, *, wait: float = 0.0, report: Callable[[str], None] | None = None,
                refuse_wait: Callable[[Holder], bool] | None = None) -> Lease:
        """Take the lease, waiting up to ``wait`` seconds for a live holder to give it back.

        Raises LockHeld naming the holder if it is still held then (or at once
        when ``refuse_wait(holder)`` is true: a holder not worth waiting for).
        A holder on this host whose process is gone is taken over, and
        ``report`` is told so.
        """
        owner = _HELD.get(self._slot())
        if owner is not None and owner is not self:
            owner._count += 1
            self._shared = owner
            return self
        deadline = time.monotonic() + max(0.0, wait)
        delay = 0.05
        while True:
            mine = Holder.here(self.purpose)
            try:
                record = self.store.create(self.key, mine.to_dict())
            except PreconditionFailed:
                record = None
            if record is not None:
                self._took(mine, record.version)
                return self
            current = self.store.get(self.key)
            if current is None:
                continue  # given back meanwhile: try again at once
            holder = Holder.from_dict(current.value)
            if holder.gone_from_this_host():
                with contextlib.suppress(PreconditionFailed):
                    if self.store.delete(self.key, current.version) and report is not None:
                        report(f"took over the lock of {self.key}: its holder, pid {holder.pid} on this host, "
                               f"is gone ({holder.describe()})")
                continue
            if (refuse_wait is not None and refuse_wait(holder)) or time.monotonic() >= deadline:
                raise held_error(self.key, holder, self.store)
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def _took(self, holder: Holder, version: str) -> None:
        self.holder, self._version, self._lost = holder, version, None
        self._count = 1
        self._taken_in = self._slot()
        _HELD[self._taken_in] = self
        self._stop.clear()
        if self.heartbeat_s > 0:
            self._thread = threading.Thread(target=self._beat, name=f"lease-{self.key}", daemon=True)
            self._thread.start()

    def release(self) -> None:
        """Give the lease back (a no-op if not held; a lease broken meanwhile is left to its new owner)."""
        if self._shared is not None:
            self._shared._count -= 1
            self._shared = None
            return
        if self.holder is None:
            return
        self._count -= 1
        if self._count > 0:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        _HELD.pop(self._taken_in, None)
        with self._mutex:
            version, self.holder, self._version = self._version, None, None
            if self._lost is None and version is not None:
                with contextlib.suppress(PreconditionFailed):
                    self.store.delete(self.key, version)

    def _slot(self) -> tuple[int, str, int]:
        return id(self.store), self.key, threading.get_ident()

    def __enter__(self) -> Lease:
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- while held -------------------------------------------------------------

    def heartbeat(self) -> None:
        """Renew the lease now (LockLost if it was broken)."""
        if self._shared is not None:
            self._shared.heartbeat()
            return
        with self._mutex:
            if self.holder is None:
                return
            if self._lost is not None:
                raise LockLost(self._lost)
            renewed = Holder(**{**self.holder.to_dict(), "heartbeat": time.time()})
            try:
                record = self.store.replace(self.key, renewed.to_dict(), self._version or "")
            except PreconditionFailed:
                written_anyway = self.store.get(self.key)
                if written_anyway is None or written_anyway.value != renewed.to_dict():
                    self._lost = self._lost_message(written_anyway)
                    raise LockLost(self._lost) from None
                record = written_anyway  # a retried write whose first attempt had landed
            self.holder, self._version = renewed, record.version

    def check(self) -> None:
        """LockLost if the lease was broken since it was taken (reads the store)."""
        if self._shared is not None:
            self._shared.check()
            return
        if self.holder is None:
            raise LockLost(f"the lock {self.key} is not held")
        if self._lost is not None:
            raise LockLost(self._lost)
        current = self.store.get(self.key)
        if current is None or Holder.from_dict(current.value).token != self.holder.token:
            self._lost = self._lost_message(current)
            raise LockLost(self._lost)

    def _lost_message(self, current: Record | None = None) -> str:
        if current is None:
            current = self.store.get(self.key)
        if current is None:
            return f"the lock {self.key} was broken by someone else; stopped so as not to undo their changes"
        return (f"the lock {self.key} was taken by someone else ({Holder.from_dict(current.value).describe()}); "
                f"stopped so as not to undo their changes")

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.heartbeat()
            except LockLost:
                return
            except Exception:  # a flaky store: try again at the next beat; stale only after many misses
                continue

    _count: int = 0
    _taken_in: tuple[int, str, int] = (0, "", 0)


#: Leases this process holds, by (store object id, key, thread): what makes a Lease reentrant
#: for the thread that took it (another thread of this process is refused like another process).
_HELD: dict[tuple[int, str, int], Lease] = {}


def held_error(key: str, holder: Holder, store: StateStore) -> LockHeld:
    """The one-line refusal naming ``holder`` of ``key``."""
    stale = holder.is_stale()
    if stale:
        hint = ("its holder stopped heartbeating and may have died; if no process is working on it any more, "
                "break the lock explicitly with --break-lock")
    else:
        hint = "wait for it to finish; if its holder is gone for good, break the lock with --break-lock"
    state = "stale lock" if stale else "locked"
    return LockHeld(f"{key} is {state}: {holder.describe()}", holder=holder, stale=stale, hint=hint)


def peek(store: StateStore, key: str) -> Holder | None:
    """Who holds the lease on ``key`` right now, if anyone."""
    record = store.get(key)
    return Holder.from_dict(record.value) if record else None


def break_lease(store: StateStore, key: str) -> Holder | None:
    """Delete the lease on ``key`` whoever holds it; the holder it had, or None if it was free."""
    while True:
        record = store.get(key)
        if record is None:
            return None
        with contextlib.suppress(PreconditionFailed):
            store.delete(key, record.version)
            return Holder.from_dict(record.value)


@contextlib.contextmanager
def holding(store: StateStore, key: str, *, purpose: str, wait: float = 0.0,
            report: Callable[[str], None] | None = None,
            refuse_wait: Callable[[Holder], bool] | None = None) -> Iterator[Lease]:
    """``with holding(store, "locks/endpoints/house", purpose="set traffic"):`` take, yield, give back."""
    lease = Lease(store, key, purpose=purpose).acquire(wait=wait, report=report, refuse_wait=refuse_wait)
    try:
        yield lease
    finally:
        lease.release()
