"""The emulation's clock: service waits in real seconds, optionally scaled for tests.

SageMaker bakes each blue/green traffic step for ``WaitIntervalInSeconds`` of
wall time and keeps the old fleet ``TerminationWaitInSeconds`` longer; the
emulation waits the same, multiplied by the *time scale*:

- ``1.0`` (the default): real seconds, as the service;
- ``0.1``: ten times faster (a 30 s bake takes 3 s), for test suites.

Set it with the environment variable ``CLOUDEPLOY_SAGEMAKER_TIME_SCALE`` (read
when the emulation starts), ``start_emulation(time_scale=...)``,
``cloudeploy emulator sagemaker --time-scale`` or ``emu.time_scale = ...``.
Only these deployment waits are scaled: model servers start in the time they
take, and CloudWatch periods and timestamps stay real.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from cloudeploy.errors import ValidationError

ENV = "CLOUDEPLOY_SAGEMAKER_TIME_SCALE"

#: Real seconds between two evaluations of the auto-rollback alarms during a bake.
ALARM_CHECK_S = 0.2


def check_scale(value: object, source: str = "time scale") -> float:
    """``value`` as a positive float no larger than 1; ValidationError naming ``source`` otherwise."""
    try:
        scale = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError(
            f"{source} must be a number such as 1 or 0.1, got {value!r}"
        ) from None
    if not 0 < scale <= 1:
        raise ValidationError(
            f"{source} must be > 0 and <= 1 (1 = real seconds, 0.1 = ten times faster), got {value!r}"
        )
    return scale


def scale_from_env() -> float:
    raw = os.environ.get(ENV, "").strip()
    return check_scale(raw, ENV) if raw else 1.0


def bake(
    seconds: float, scale: float, cancel: threading.Event, check: Callable[[], bool] | None = None
) -> bool:
    """Wait ``seconds`` x ``scale`` of wall time, calling ``check`` at the start and every
    ALARM_CHECK_S; stop early and return True as soon as ``check()`` is true.

    Returns False when the time ran out (or ``cancel`` was set) without ``check`` firing.
    """
    deadline = time.monotonic() + max(0.0, seconds) * scale
    while True:
        if check is not None and check():
            return True
        left = deadline - time.monotonic()
        if left <= 0 or cancel.wait(min(ALARM_CHECK_S, left)):
            return check is not None and not cancel.is_set() and check()
