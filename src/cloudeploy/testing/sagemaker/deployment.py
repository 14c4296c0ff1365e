"""``DeploymentConfig`` of UpdateEndpoint: validation and the traffic steps it implies.

Blue/green with ``ALL_AT_ONCE``, ``CANARY`` or ``LINEAR`` traffic routing, with the
service's limits: a canary is at most 50% of the fleet, a linear step 10-50%;
wait intervals 0-3600 s; up to 10 auto-rollback alarms, which must exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.sagemaker.errors import ValidationException

MAX_ALARMS = 10


@dataclass(frozen=True)
class TrafficPlan:
    """Fractions of traffic on the new fleet after each step (the last is 1.0).

    Each step bakes ``wait_s`` seconds (``WaitIntervalInSeconds``); the old
    fleet stays ``termination_wait_s`` (``TerminationWaitInSeconds``) after the last.
    """

    steps: tuple[float, ...] = (1.0,)
    alarms: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    wait_s: float = 0.0
    termination_wait_s: float = 0.0


def _size_fraction(size: dict[str, Any], label: str, instances: int) -> float:
    kind = size.get("Type")
    value = size.get("Value")
    if (
        kind not in ("INSTANCE_COUNT", "CAPACITY_PERCENT")
        or not isinstance(value, int)
        or value < 1
    ):
        raise ValidationException(
            f"{label} must have Type INSTANCE_COUNT or CAPACITY_PERCENT and an integer Value >= 1"
        )
    if kind == "CAPACITY_PERCENT":
        return value / 100
    if value > instances:
        raise ValidationException(
            f"{label} of {value} instances is larger than the new fleet ({instances} instances)"
        )
    return value / instances


def plan_update(deployment_config: dict[str, Any] | None, instances: int) -> TrafficPlan:
    """Validate ``deployment_config`` for a new fleet of ``instances`` instances."""
    if not deployment_config:
        return TrafficPlan()
    if "RollingUpdatePolicy" in deployment_config:
        raise ValidationException(
            "RollingUpdatePolicy is not supported by this emulation; use BlueGreenUpdatePolicy"
        )
    alarms = tuple(
        alarm.get("AlarmName", "")
        for alarm in (deployment_config.get("AutoRollbackConfiguration") or {}).get("Alarms", [])
    )
    if len(alarms) > MAX_ALARMS:
        raise ValidationException(f"AutoRollbackConfiguration accepts at most {MAX_ALARMS} alarms")
    if any(not name for name in alarms):
        raise ValidationException("Every AutoRollbackConfiguration alarm needs an AlarmName")
    policy = deployment_config.get("BlueGreenUpdatePolicy")
    if not policy:
        return TrafficPlan(alarms=alarms, config=deployment_config)
    routing = policy.get("TrafficRoutingConfiguration") or {}
    kind = routing.get("Type")
    wait = routing.get("WaitIntervalInSeconds")
    if not isinstance(wait, int) or not 0 <= wait <= 3600:
        raise ValidationException("WaitIntervalInSeconds must be an integer between 0 and 3600")
    for key, low, high in (
        ("TerminationWaitInSeconds", 0, 3600),
        ("MaximumExecutionTimeoutInSeconds", 600, 28800),
    ):
        if key in policy and not low <= policy[key] <= high:
            raise ValidationException(f"{key} must be between {low} and {high}, got {policy[key]}")
    instances = max(instances, 1)
    if kind == "ALL_AT_ONCE":
        steps: tuple[float, ...] = (1.0,)
    elif kind == "CANARY":
        if "CanarySize" not in routing:
            raise ValidationException("TrafficRoutingConfiguration of Type CANARY needs CanarySize")
        canary = _size_fraction(routing["CanarySize"], "CanarySize", instances)
        if canary > 0.5:
            raise ValidationException("CanarySize must be at most 50% of the new fleet's capacity")
        steps = (canary, 1.0)
    elif kind == "LINEAR":
        if "LinearStepSize" not in routing:
            raise ValidationException(
                "TrafficRoutingConfiguration of Type LINEAR needs LinearStepSize"
            )
        step = _size_fraction(routing["LinearStepSize"], "LinearStepSize", instances)
        if not 0.1 <= step <= 0.5:
            raise ValidationException(
                "LinearStepSize must be between 10% and 50% of the new fleet's capacity"
            )
        count = math.ceil(1 / step - 1e-9)
        steps = tuple(min(1.0, step * (i + 1)) for i in range(count))
    else:
        raise ValidationException(
            f"TrafficRoutingConfiguration Type must be ALL_AT_ONCE, CANARY or LINEAR, got {kind!r}"
        )
    return TrafficPlan(
        steps=steps,
        alarms=alarms,
        config=deployment_config,
        wait_s=float(wait),
        termination_wait_s=float(policy.get("TerminationWaitInSeconds", 0)),
    )
