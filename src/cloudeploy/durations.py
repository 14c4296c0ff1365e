"""Durations as users write them: ``500ms``, ``90s``, ``10m``, ``1h``, ``2d`` or a number of seconds.

One parser for rollout plans (bakes, waits), shadow plans and monitoring specs
(windows, intervals): a leaf, so that the workflows, which must not import each
other, share it. Bad input is a ValidationError naming ``what`` and the forms.
"""

from __future__ import annotations

import math
import re

from cloudeploy.errors import ValidationError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_FORMS = "500ms, 90s, 10m, 1h, 2d or a number of seconds"


def _invalid(what: str, value: object) -> ValidationError:
    return ValidationError(f"invalid {what} {value!r}: a {what} must be a duration such as {_FORMS}")


def parse_duration(value: str | float | int, *, what: str = "duration", positive: bool = False) -> float:
    """Seconds in ``value``; negative (or, with ``positive``, zero) is refused, as is NaN/infinity."""
    if isinstance(value, bool):
        raise _invalid(what, value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise _invalid(what, value)
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise ValidationError(f"{what} must be {'positive' if positive else 'at least 0'}, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest of ``500ms``, ``30s``, ``10m``, ``1h`` that says ``seconds`` exactly."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
