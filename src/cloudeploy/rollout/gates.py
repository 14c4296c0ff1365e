"""Gates: the checks a rollout step must pass, judged on one metrics window.

A gate looks at a :class:`StepWindow` (the new version's metrics and the
current version's, over the same window) and returns a :class:`GateResult`
carrying the number it judged and its threshold, so every decision in the log
says what it was based on. ``passed`` is ``None`` when the gate cannot judge
yet (no baseline, no latency samples): that neither fails nor blocks a step.

Built in: ``error_rate``, ``p99_ms`` (absolute) and ``p99_ratio`` (relative to
the current version), configured by the plan's fields. Further gates are
registered by name and configured in the plan's ``gates`` table::

    register_gate("drift", lambda settings: DriftGate(max_score=settings["max"]))

or by third parties through the entry-point group ``cloudeploy.rollout_gates``
(``name = "package.module:factory"``). A factory takes the gate's settings
mapping and raises ValidationError for bad ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ValidationError

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider, VersionMetrics
    from cloudeploy.rollout.plan import RolloutPlan

ENTRY_POINT_GROUP = "cloudeploy.rollout_gates"


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
    """One gate's verdict with the number it was based on."""

    gate: str
    passed: bool | None
    value: float | None
    threshold: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
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


class ErrorRateGate(Gate):
    """Fails when the new version's share of 5xx answers exceeds ``max_rate``."""

    name = "error_rate"

    def __init__(self, max_rate: float) -> None:
        self.max_rate = max_rate

    def describe(self) -> str:
        return f"error rate of the new version ≤ {self.max_rate:.2%}"

    def evaluate(self, window: StepWindow) -> GateResult:
        new = window.new
        rate = new.error_rate
        return GateResult(
            self.name, rate <= self.max_rate, rate, self.max_rate,
            f"{new.errors} errors in {new.requests} requests",
        )


class P99Gate(Gate):
    """Fails when the new version's p99 latency exceeds ``max_ms``."""

    name = "p99_ms"

    def __init__(self, max_ms: float) -> None:
        self.max_ms = max_ms

    def describe(self) -> str:
        return f"p99 latency of the new version ≤ {self.max_ms:g} ms"

    def evaluate(self, window: StepWindow) -> GateResult:
        p99 = window.new.p99_ms
        if p99 is None:
            return GateResult(self.name, None, None, self.max_ms, "no latency samples")
        return GateResult(self.name, p99 <= self.max_ms, p99, self.max_ms, f"p99 {p99:.1f} ms")


class P99RatioGate(Gate):
    """Fails when new p99 / current p99 exceeds ``max_ratio`` (same window)."""

    name = "p99_ratio"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    def describe(self) -> str:
        return f"p99 latency of the new version ≤ {self.max_ratio:g}× the current version's"

    def evaluate(self, window: StepWindow) -> GateResult:
        base = window.baseline
        new_p99 = window.new.p99_ms
        if base is None or base.p99_ms is None or base.requests < max(window.min_requests, 1):
            have = 0 if base is None else base.requests
            return GateResult(self.name, None, None, self.max_ratio,
                              f"current version has {have} requests in the window: not judged")
        if new_p99 is None:
            return GateResult(self.name, None, None, self.max_ratio, "no latency samples")
        ratio = new_p99 / max(base.p99_ms, 1e-3)
        return GateResult(
            self.name, ratio <= self.max_ratio, ratio, self.max_ratio,
            f"p99 {new_p99:.1f} ms vs {base.p99_ms:.1f} ms ({base.version})",
        )


GateFactory = Callable[[Mapping[str, Any]], Gate]
_REGISTRY: dict[str, GateFactory] = {}


def register_gate(name: str, factory: GateFactory) -> None:
    """Make ``name`` usable in a plan's ``gates`` table; ``factory(settings)`` builds the gate."""
    _REGISTRY[name] = factory


def gate_factory(name: str) -> GateFactory:
    """The factory registered (in-process or by entry point) as ``name``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            factory = ep.load()
            _REGISTRY[name] = factory
            return factory
    known = sorted({*_REGISTRY, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
    raise ValidationError(
        f"unknown rollout gate {name!r} (registered: {', '.join(known) or 'none'})",
        hint="built-in gates are set with max_error_rate, max_p99_ms and max_p99_ratio",
    )


def build_gates(plan: RolloutPlan) -> list[Gate]:
    """The gates ``plan`` asks for, built-in first."""
    gates: list[Gate] = []
    if plan.max_error_rate is not None:
        gates.append(ErrorRateGate(plan.max_error_rate))
    if plan.max_p99_ms is not None:
        gates.append(P99Gate(plan.max_p99_ms))
    if plan.max_p99_ratio is not None:
        gates.append(P99RatioGate(plan.max_p99_ratio))
    for name, settings in plan.gates.items():
        try:
            gate = gate_factory(name)(settings)
        except ValidationError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError(f"bad settings for rollout gate {name!r}: {error}") from None
        if not isinstance(gate, Gate):
            raise ValidationError(f"rollout gate {name!r} did not build a Gate (got {type(gate).__name__})")
        gates.append(gate)
    return gates
