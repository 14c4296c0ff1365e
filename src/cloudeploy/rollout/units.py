"""Durations and rates as rollout plans and shadow plans write them (``10m``, ``1%``).

A leaf of :mod:`cloudeploy.rollout`: the plan, the shadow phase and the executor
all parse and print these, so they live below all three. Bad input is a
ValidationError naming the value and the accepted forms.
"""

from __future__ import annotations

import re

from cloudeploy.errors import ValidationError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: str | float | int, *, what: str = "duration") -> float:
    """Seconds for ``"10m"``, ``"30s"``, ``"1h"``, ``"500ms"`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValidationError(f"invalid {what} {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ValidationError(
                f"invalid {what} {value!r}", hint="durations look like 500ms, 30s, 10m or 1h"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValidationError(f"{what} must not be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest of ``500ms``, ``30s``, ``10m``, ``1h`` that says ``seconds`` exactly."""
    if seconds and seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_rate(value: str | float | int, *, what: str = "error rate") -> float:
    """A fraction in [0, 1] from ``0.01`` or ``"1%"``."""
    if isinstance(value, bool):
        raise ValidationError(f"invalid {what} {value!r}")
    text = str(value).strip()
    try:
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValidationError(f"invalid {what} {value!r}", hint="give a fraction (0.01) or a percent (1%)") from None
    if not 0 <= rate <= 1:
        raise ValidationError(f"{what} must be between 0 and 1 (0% and 100%), got {value!r}")
    return rate
