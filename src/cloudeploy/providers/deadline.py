"""One deadline for a whole provider call.

A mutating call takes ``wait`` and ``timeout``; :class:`Deadline` turns them
into one object that the call hands to every step it takes, so a call that
waits for several operations (undeploy each version, then delete the endpoint;
wait for an update in progress, then for its own) never waits longer in total
than ``timeout``:

- ``timeout=None``: the provider's default bound (:attr:`Provider.default_timeout`);
- ``timeout=0`` or ``wait=False``: :attr:`Deadline.waits` is false; the call
  returns as soon as the provider accepted the request (it is still applied);
- otherwise ``timeout`` seconds from the moment the call started.

When it passes, the step waiting raises :class:`~cloudeploy.errors.OperationTimeout`
(saying the operation may still be in progress) through :meth:`Deadline.expired_error`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from cloudeploy.errors import OperationTimeout, ValidationError


@dataclass(frozen=True)
class Deadline:
    """When a provider call must have finished waiting (``time.monotonic()`` based)."""

    #: The bound the caller asked for, in seconds (the default when they gave None).
    timeout: float
    #: False when the call returns as soon as the request is accepted (``wait=False`` or ``timeout=0``).
    waits: bool = True
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, timeout: float | None, *, wait: bool = True, default: float) -> Deadline:
        """The deadline of a call that starts now. ValidationError for a negative or non-number timeout."""
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or math.isnan(timeout) or timeout < 0
        ):
            raise ValidationError(f"timeout must be a number of seconds >= 0 (or None), got {timeout!r}")
        if not isinstance(wait, bool):
            raise ValidationError(f"wait must be True or False, got {wait!r}")
        bound = default if timeout is None else float(timeout)
        return cls(timeout=bound, waits=wait and bound > 0)

    @classmethod
    def unbounded(cls) -> Deadline:
        """A deadline that never passes (for internal steps with no caller bound)."""
        return cls(timeout=math.inf)

    def remaining(self) -> float:
        """Seconds left, never quite 0 (a 0 would mean "do not wait" to the SDKs)."""
        if math.isinf(self.timeout):
            return math.inf
        return max(self.started + self.timeout - time.monotonic(), 0.001)

    def remaining_or_none(self) -> float | None:
        """:meth:`remaining`, or None when unbounded (for APIs that take None as "no bound")."""
        return None if math.isinf(self.timeout) else self.remaining()

    @property
    def expired(self) -> bool:
        return not math.isinf(self.timeout) and time.monotonic() >= self.started + self.timeout

    def expired_error(self, what: str, how_to_check: str) -> OperationTimeout:
        """The OperationTimeout to raise when the deadline passed while waiting for ``what``."""
        return OperationTimeout(
            f"timed out after {self.timeout:g}s waiting for {what}; it may still be in progress",
            hint=how_to_check,
        )
