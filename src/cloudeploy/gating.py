"""The rollout-gate contract: what a gate sees, what it answers, the base class.

Shared by the workflows: :mod:`cloudeploy.rollout.gates` builds and runs gates
(its built-in ones included), and other workflows contribute gates through the
entry-point group ``cloudeploy.rollout_gates`` (:mod:`cloudeploy.monitoring.gate`:
``drift``, ``outliers``, ``attribution``) without importing the rollout machinery.

A gate looks at a :class:`StepWindow` (the new version's metrics and the current
version's, over the same window) and returns a :class:`GateResult` carrying the
number it judged and its threshold. ``passed`` is ``None`` when the gate cannot
judge yet: that neither fails nor blocks a step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider, VersionMetrics


@dataclass(frozen=True)
class StepWindow:
    """What a gate judges: one step's metrics window on one endpoint."""

    provider: Provider
    endpoint: str
    version: str
    new: VersionMetrics
    baseline: VersionMetrics | None
    min_requests: int


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict with the numbers it was based on.

    ``value`` is the number judged against ``threshold`` (a rate, a latency, a
    ratio, a divergence); ``new`` and ``baseline`` are the quantity the gate
    looks at for each version over the same window (e.g. both p99 latencies for
    ``p99_ratio``, both input-error rates for ``input_error_rate``), ``None``
    where a version has no such number.
    """

    gate: str
    passed: bool | None
    value: float | None
    threshold: float
    detail: str = ""
    new: float | None = None
    baseline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
            "new": self.new,
            "baseline": self.baseline,
            "detail": self.detail,
        }


class Gate(ABC):
    """A check on a step's window. Subclasses set ``name`` and implement both methods."""

    name: str = ""

    @abstractmethod
    def describe(self) -> str:
        """What fails the gate, in words (``error rate > 1%``)."""

    @abstractmethod
    def evaluate(self, window: StepWindow) -> GateResult:
        """Judge ``window``. Called repeatedly during a bake; must be cheap and side-effect free."""
