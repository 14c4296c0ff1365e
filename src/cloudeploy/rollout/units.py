"""Durations and rates as rollout plans and shadow plans write them (``10m``, ``1%``).

A leaf of :mod:`cloudeploy.rollout`: the plan, the shadow phase and the executor
all parse and print these, so they live below all three. Bad input is a
ValidationError naming the value and the accepted forms.
"""

from __future__ import annotations

from cloudeploy.durations import format_duration, parse_duration  # noqa: F401 - re-exported
from cloudeploy.errors import ValidationError

# One parser for every workflow: cloudeploy.durations (a leaf).


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
