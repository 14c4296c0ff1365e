"""Long-running operations, finished by the polls that ask about them.

Every mutating call that Vertex AI answers with an operation registers one here
with an ``advance`` callable. Nothing runs on a timer: each GET of the operation
(or of the resource it changes) calls ``advance()`` once, which returns the
response when the work is done, ``None`` while it is still going, or raises
:class:`ApiError`, which ends the operation with that error. So tests go exactly
as fast as their client polls.

An operation can be *held* (the ``hold`` fault, :func:`hold_next`): until its
``held_until`` it is not advanced at all, whoever polls or reads, as a real
deploy stays running for minutes; the first poll after that advances it as usual.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.vertex._wire import ApiError, IdSource, not_found, now, typed

Advance = Callable[[], "dict[str, Any] | None"]
Probe = Callable[[], bool]
#: Seconds to hold the next operation started in this request (see :func:`hold_next`).
#: A context variable because the fault is drawn before the handler creates the
#: operation; each request runs in its own copy of the context, so it cannot leak.
_hold_next: ContextVar[float | None] = ContextVar("hold_next", default=None)


def hold_next(seconds: float | None) -> None:
    """Hold the next operation the current request starts for ``seconds`` (None: do not)."""
    _hold_next.set(seconds)


@dataclass
class Operation:
    name: str
    target: str
    metadata_type: str
    advance: Advance | None
    #: Optional lock-free check that the next step can finish (e.g. a server is healthy).
    probe: Probe | None = None
    #: ``time.monotonic()`` before which the operation is not advanced (a ``hold`` fault).
    held_until: float = 0.0
    create_time: str = field(default_factory=now)
    update_time: str = ""
    done: bool = False
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return time.monotonic() < self.held_until

    def step(self) -> None:
        """Advance the work once, if it is not finished and not held."""
        if self.done or self.advance is None or self.held:
            return
        try:
            result = self.advance()
        except ApiError as error:
            self.done, self.error = True, error.rpc_status()
        else:
            if result is not None:
                self.done, self.response = True, result
        if self.done:
            self.advance = None
            self.update_time = now()

    def to_json(self) -> dict[str, Any]:
        generic = {
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
        }
        body: dict[str, Any] = {
            "name": self.name,
            "metadata": typed(self.metadata_type, {"genericMetadata": generic}),
            "done": self.done,
        }
        if self.error is not None:
            body["error"] = self.error
        elif self.response is not None:
            body["response"] = self.response
        return body


class OperationStore:
    """The operations of one project and region."""

    def __init__(self, ids: IdSource) -> None:
        self._ids = ids
        self._operations: dict[str, Operation] = {}

    def start(
        self,
        target: str,
        metadata_type: str,
        advance: Advance,
        probe: Probe | None = None,
        *,
        parent: str | None = None,
    ) -> Operation:
        """Register an operation on resource ``target``; it is not done yet.

        It is named ``{target}/operations/ID``, or ``{parent}/operations/ID`` when
        ``parent`` (``projects/P/locations/L``) is given: the service names some
        operations under the location (a batch job's delete), and the v1
        Operations API only serves the paths it knows.
        Held for the seconds :func:`hold_next` set in this request, if any (once).
        """
        name = f"{parent or target}/operations/{self._ids.next()}"
        operation = Operation(
            name=name, target=target, metadata_type=metadata_type, advance=advance, probe=probe
        )
        hold = _hold_next.get()
        if hold is not None:
            _hold_next.set(None)
            operation.held_until = time.monotonic() + hold
        self._operations[name] = operation
        return operation

    def get(self, name: str) -> Operation:
        """The operation, advanced by one step: this GET is the poll that drives it."""
        operation = self._operations.get(name)
        if operation is None:
            raise not_found(f"Operation {name} not found.")
        operation.step()
        return operation

    def await_progress(self, name: str, timeout: float) -> None:
        """Hold a poll for up to ``timeout`` s until the operation's probe says it can finish.

        Called without the backend lock. It only shortens the client's back-off
        (a deploy whose server becomes healthy mid-poll finishes on this poll
        instead of the next one); the operation still changes only in :meth:`get`.
        """
        operation = self._operations.get(name)
        if operation is None or operation.done or operation.probe is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if operation.probe():
                    return
            except ApiError:
                return
            time.sleep(0.05)

    def settle(self, target: str) -> None:
        """Advance the pending operations on ``target`` (a GET of the resource polls too)."""
        for operation in list(self._operations.values()):
            if operation.target == target and not operation.done:
                operation.step()

    def list(self, target: str) -> list[Operation]:
        """Every operation on ``target``, oldest first (listing does not advance them)."""
        return [o for o in self._operations.values() if o.target == target]

    def pending(self, target: str) -> list[Operation]:
        return [o for o in self._operations.values() if o.target == target and not o.done]
