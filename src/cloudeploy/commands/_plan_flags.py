"""Rollout-plan flags shared by ``promote`` and ``shadow``: ``--gate`` and the shadow phase."""

from __future__ import annotations

from collections.abc import Iterable

from cloudeploy.errors import ValidationError
from cloudeploy.rollout.plan import RolloutPlan
from cloudeploy.rollout.shadow import ShadowPlan


def parse_gates(items: Iterable[str]) -> dict[str, dict[str, object]]:
    """``["drift:max=0.3,window=1h", "custom"]`` -> ``{"drift": {"max": 0.3, "window": "1h"}, "custom": {}}``."""
    parsed: dict[str, dict[str, object]] = {}
    for item in items:
        name, _, settings = item.partition(":")
        if not name.strip():
            raise ValidationError(f"--gate needs a gate name, got {item!r}", hint="e.g. --gate drift:max=0.3")
        values: dict[str, object] = {}
        for pair in filter(None, (p.strip() for p in settings.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise ValidationError(f"--gate {item!r}: expected KEY=VALUE, got {pair!r}")
            try:
                values[key] = float(value)
            except ValueError:
                values[key] = value
        parsed[name.strip()] = values
    return parsed


def with_shadow(plan: RolloutPlan, duration=None, share=None, min_agreement=None, tolerance=None) -> RolloutPlan:
    """``plan`` with its shadow phase set from flags (given ones override the plan file's)."""
    given = {k: v for k, v in dict(duration_s=duration, share=share, min_agreement=min_agreement,
                                   tolerance=tolerance).items() if v is not None}
    if not given:
        return plan
    if plan.shadow is None and "duration_s" not in given:
        raise ValidationError("--shadow-share and --min-agreement need a shadow phase: add --shadow DURATION")
    base = plan.shadow.to_dict() if plan.shadow is not None else {}
    return plan.with_overrides(shadow=ShadowPlan.coerce({**base, **given}))
