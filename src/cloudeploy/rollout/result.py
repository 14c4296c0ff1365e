"""What a rollout reports: each decision with its numbers, and the outcome."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Decision actions, in the order a rollout may take them.
STEP = "step"          # a step's split was applied
PROCEED = "proceed"    # a step passed its gates
PROMOTED = "promoted"  # the last step passed: the new version serves 100%
ROLLBACK = "rollback"  # a gate broke (or a person asked): back to the starting split
RESUME = "resume"      # a stopped rollout was taken up again
INTERRUPT = "interrupt"  # the process was stopped (Ctrl-C, an error) mid-rollout


def iso_time(epoch: float) -> str:
    """``epoch`` as ISO-8601 UTC with milliseconds (``2026-12-07T13:45:56.123Z``)."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Decision:
    """One entry of the decision log.

    ``at`` is epoch seconds; ``to_dict`` also gives it as ISO-8601 UTC (``time``).
    ``metrics`` holds ``{"new": VersionMetrics dict, "baseline": ... | None}``
    and ``gates`` the :class:`~cloudeploy.rollout.gates.GateResult` dicts the
    decision was based on (both empty for actions that judge nothing).
    """

    action: str
    step: int
    percent: int
    split: dict[str, int]
    reason: str
    at: float = field(default_factory=time.time)
    metrics: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "step": self.step,
            "percent": self.percent,
            "split": dict(self.split),
            "reason": self.reason,
            "at": self.at,
            "time": iso_time(self.at),
            "metrics": self.metrics,
            "gates": list(self.gates),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class PromotionResult:
    """How a promotion ended: ``outcome`` is ``promoted`` or ``rolled_back``.

    ``traffic`` is the endpoint's split as read back at the end.
    """

    endpoint: str
    version: str
    outcome: str
    from_split: dict[str, int]
    traffic: dict[str, int]
    decisions: tuple[Decision, ...]
    plan: dict[str, Any]
    reason: str = ""

    @property
    def promoted(self) -> bool:
        return self.outcome == PROMOTED

    @property
    def rolled_back(self) -> bool:
        return self.outcome == "rolled_back"

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "version": self.version,
            "outcome": self.outcome,
            "reason": self.reason,
            "from_split": dict(self.from_split),
            "traffic": dict(self.traffic),
            "plan": self.plan,
            "decisions": [d.to_dict() for d in self.decisions],
        }
