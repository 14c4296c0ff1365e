"""Gates: the checks a rollout step must pass, judged on one metrics window.

A gate (the contract is :mod:`cloudeploy.gating`) looks at a :class:`StepWindow` (the new version's metrics and the
current version's, over the same window) and returns a :class:`GateResult`
carrying the number it judged and its threshold, so every decision in the log
says what it was based on. ``passed`` is ``None`` when the gate cannot judge
yet (no baseline, no latency samples): that neither fails nor blocks a step.

Built in, configured by the plan's fields (:data:`BUILT_IN_GATES`), the same on
every provider because they read :class:`~cloudeploy.providers.base.VersionMetrics`:

- ``error_rate``: model errors + timeouts (the 5xx class) over requests;
  ``model_error_rate`` and ``timeout_rate`` per class;
- ``input_error_rate``: 4xx share clearly above the current version's on the
  same traffic (margin + one-sided two-proportion z-test), or above an absolute max;
- ``non_finite``: any NaN/inf prediction fails;
- ``p50_ms``/``p99_ms`` (absolute) and ``p50_ratio``/``p99_ratio`` (relative to
  the current version);
- ``prediction_shift``: Jensen–Shannon divergence between the two versions'
  live predictions (class shares, or histograms on common bins for regressors).

Every comparison with the current version waits until it has ``min_requests``
in the window too (``passed=None`` until then); the executor acts on a broken
gate only once the new version has ``min_requests``. Further gates are
registered by name and configured in the plan's ``gates`` table::

    register_gate("drift", lambda settings: DriftGate(max_score=settings["max"]))

or by third parties through the entry-point group ``cloudeploy.rollout_gates``
(``name = "package.module:factory"``). A factory takes the gate's settings
mapping and raises ValidationError for bad ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.gating import Gate, GateResult, StepWindow

if TYPE_CHECKING:  # type-only: plan.py imports this module to validate its gates table
    from cloudeploy.providers.base import VersionMetrics
    from cloudeploy.rollout.plan import RolloutPlan

__all__ = ["Gate", "GateResult", "StepWindow", "build_gates", "gate_factory", "register_gate"]

ENTRY_POINT_GROUP = "cloudeploy.rollout_gates"

stats = lazy.module("scipy.stats")


def _baseline_short(window: StepWindow) -> str | None:
    """Why a comparison with the baseline cannot be judged yet, or None if it can."""
    base = window.baseline
    if base is None:
        return "no version to compare with"
    need = max(window.min_requests, 1)
    if base.requests < need:
        return f"{base.version} has {base.requests} of {need} requests in the window: not judged"
    return None


def _server_errors(metrics: VersionMetrics) -> int:
    """Answers that are the version's fault: model errors and timeouts (``errors`` minus input errors)."""
    return max(metrics.errors - metrics.input_errors, metrics.model_errors + metrics.timeouts)


class ErrorRateGate(Gate):
    """Fails when the new version's share of server-side errors (5xx class: model errors
    and timeouts, never the client's 4xx) exceeds ``max_rate``."""

    name = "error_rate"

    def __init__(self, max_rate: float) -> None:
        self.max_rate = max_rate

    def describe(self) -> str:
        return f"error rate of the new version ≤ {self.max_rate:.2%} (model errors + timeouts, 5xx class)"

    def evaluate(self, window: StepWindow) -> GateResult:
        new, base = window.new, window.baseline
        errors = _server_errors(new)
        rate = errors / new.requests if new.requests else 0.0
        base_rate = _server_errors(base) / base.requests if base is not None and base.requests else None
        detail = f"{errors} errors in {new.requests} requests"
        if base is not None:
            detail += f"; {base.version}: {_server_errors(base)} in {base.requests}"
        return GateResult(self.name, rate <= self.max_rate, rate, self.max_rate, detail, rate, base_rate)


class ClassRateGate(Gate):
    """Fails when the new version's share of one error class exceeds ``max_rate``."""

    def __init__(self, name: str, attribute: str, what: str, max_rate: float) -> None:
        self.name, self.attribute, self.what, self.max_rate = name, attribute, what, max_rate

    def describe(self) -> str:
        return f"{self.what} rate of the new version ≤ {self.max_rate:.2%}"

    def evaluate(self, window: StepWindow) -> GateResult:
        new, base = window.new, window.baseline
        count = getattr(new, self.attribute)
        rate = count / new.requests if new.requests else 0.0
        base_rate = getattr(base, self.attribute) / base.requests if base is not None and base.requests else None
        return GateResult(self.name, rate <= self.max_rate, rate, self.max_rate,
                          f"{count} {self.what}s in {new.requests} requests", rate, base_rate)


#: One-sided significance level of the input-error comparison (z = 2.326).
INPUT_ERROR_ALPHA = 0.01


def one_sided_p_value(errors_new: int, n_new: int, errors_base: int, n_base: int) -> float:
    """P-value of "the new version's error rate is above the baseline's" (two-proportion z-test, pooled)."""
    if n_new <= 0 or n_base <= 0:
        return 1.0
    pooled = (errors_new + errors_base) / (n_new + n_base)
    if pooled <= 0.0 or pooled >= 1.0:
        return 1.0  # no errors (or only errors) on both sides: nothing to tell apart
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_new + 1 / n_base))
    z = (errors_new / n_new - errors_base / n_base) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


class InputErrorGate(Gate):
    """Fails when the new version's 4xx share is clearly above the baseline's on the same traffic,
    or above ``max_rate`` when set.

    "Clearly above": higher by more than ``margin`` (absolute) *and* significant
    in a one-sided two-proportion z-test at ``alpha`` (1%). Both versions see
    the same clients, so a gap like that means the new version refuses requests
    the current one takes: a schema that no longer matches the traffic. The
    comparison waits for ``min_requests`` on both versions.
    """

    name = "input_error_rate"

    def __init__(self, margin: float | None, max_rate: float | None, alpha: float = INPUT_ERROR_ALPHA) -> None:
        self.margin, self.max_rate, self.alpha = margin, max_rate, alpha

    def describe(self) -> str:
        parts = []
        if self.margin is not None:
            parts.append(f"not clearly above the current version's (by > {self.margin:.2%}, "
                         f"one-sided test at {self.alpha:g})")
        if self.max_rate is not None:
            parts.append(f"≤ {self.max_rate:.2%}")
        return "input-error (4xx) rate of the new version " + " and ".join(parts)

    def evaluate(self, window: StepWindow) -> GateResult:
        new, base = window.new, window.baseline
        rate = new.input_error_rate
        base_rate = base.input_error_rate if base is not None and base.requests else None
        detail = f"{new.input_errors} input errors in {new.requests} requests"
        if self.max_rate is not None and rate > self.max_rate:
            return GateResult(self.name, False, rate, self.max_rate, detail + f" (max {self.max_rate:.2%})",
                              rate, base_rate)
        if self.margin is None:
            return GateResult(self.name, True, rate, self.max_rate or 0.0, detail, rate, base_rate)
        short = _baseline_short(window)
        if short is not None or new.requests < max(window.min_requests, 1):
            return GateResult(self.name, None, None, self.margin, short or detail, rate, base_rate)
        assert base is not None and base_rate is not None
        p_value = one_sided_p_value(new.input_errors, new.requests, base.input_errors, base.requests)
        gap = rate - base_rate
        clearly_above = gap > self.margin and p_value < self.alpha
        detail += f"; {base.version}: {base.input_errors} in {base.requests} (gap {gap:+.2%}, p={p_value:.2g})"
        return GateResult(self.name, not clearly_above, gap, self.margin, detail, rate, base_rate)


class NonFiniteGate(Gate):
    """Fails on any answer of the new version holding NaN or infinity."""

    name = "non_finite"

    def describe(self) -> str:
        return "no NaN or infinite prediction from the new version"

    def evaluate(self, window: StepWindow) -> GateResult:
        new, base = window.new, window.baseline
        return GateResult(self.name, new.non_finite == 0, float(new.non_finite), 0.0,
                          f"{new.non_finite} answers with NaN/inf in {new.requests}",
                          float(new.non_finite), float(base.non_finite) if base is not None else None)


class LatencyGate(Gate):
    """Fails when the new version's p50 or p99 latency exceeds ``max_ms``."""

    def __init__(self, quantile: str, max_ms: float) -> None:
        self.quantile, self.max_ms = quantile, max_ms
        self.name = f"{quantile}_ms"

    def describe(self) -> str:
        return f"{self.quantile} latency of the new version ≤ {self.max_ms:g} ms"

    def evaluate(self, window: StepWindow) -> GateResult:
        value = getattr(window.new, f"{self.quantile}_ms")
        base = window.baseline
        base_value = getattr(base, f"{self.quantile}_ms") if base is not None else None
        if value is None:
            return GateResult(self.name, None, None, self.max_ms, "no latency samples", None, base_value)
        return GateResult(self.name, value <= self.max_ms, value, self.max_ms,
                          f"{self.quantile} {value:.1f} ms", value, base_value)


class LatencyRatioGate(Gate):
    """Fails when the new version's p50 or p99 over the current version's (same window) exceeds ``max_ratio``."""

    def __init__(self, quantile: str, max_ratio: float) -> None:
        self.quantile, self.max_ratio = quantile, max_ratio
        self.name = f"{quantile}_ratio"

    def describe(self) -> str:
        return f"{self.quantile} latency of the new version ≤ {self.max_ratio:g}× the current version's"

    def evaluate(self, window: StepWindow) -> GateResult:
        base = window.baseline
        new_value = getattr(window.new, f"{self.quantile}_ms")
        base_value = getattr(base, f"{self.quantile}_ms") if base is not None else None
        short = _baseline_short(window)
        if short is not None or base_value is None:
            return GateResult(self.name, None, None, self.max_ratio, short or "no latency samples",
                              new_value, base_value)
        if new_value is None:
            return GateResult(self.name, None, None, self.max_ratio, "no latency samples", None, base_value)
        ratio = new_value / max(base_value, 1e-3)
        return GateResult(
            self.name, ratio <= self.max_ratio, ratio, self.max_ratio,
            f"{self.quantile} {new_value:.1f} ms vs {base_value:.1f} ms ({base.version})",  # type: ignore[union-attr]
            new_value, base_value,
        )


#: Equal-width bins of the histogram a regressor's predictions are compared on (fewer for small samples).
SHIFT_BINS = 10


def jensen_shannon(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of two distributions given as weights on the same bins."""
    total_p, total_q = sum(p), sum(q)
    if total_p <= 0 or total_q <= 0:
        return 0.0
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = a / total_p, b / total_q
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return min(max(divergence, 0.0), 1.0)


def prediction_shift(new: VersionMetrics, base: VersionMetrics) -> tuple[float | None, str]:
    """Jensen–Shannon divergence between two versions' live predictions, and how it was measured.

    Classifiers: the shares of each label (a label only one version answers
    counts fully). Regressors: histograms on common equal-width bins over both
    samples' range (``SHIFT_BINS``, fewer when a sample is small). ``None``
    when either version reported no predictions.
    """
    if new.prediction_counts is not None and base.prediction_counts is not None:
        labels = sorted(set(new.prediction_counts) | set(base.prediction_counts))
        p = [new.prediction_counts.get(label, 0) for label in labels]
        q = [base.prediction_counts.get(label, 0) for label in labels]
        if not sum(p) or not sum(q):
            return None, "no predictions"
        absent = sorted(set(new.prediction_counts) - set(base.prediction_counts))
        how = f"class shares over {len(labels)} labels"
        if absent:
            how += f"; labels the current version never answered: {', '.join(absent[:5])}"
        return jensen_shannon(p, q), how
    if new.prediction_values is not None and base.prediction_values is not None:
        a = [v for v in new.prediction_values if math.isfinite(v)]
        b = [v for v in base.prediction_values if math.isfinite(v)]
        if not a or not b:
            return None, "no predictions"
        low, high = min(min(a), min(b)), max(max(a), max(b))
        bins = max(2, min(SHIFT_BINS, int(math.sqrt(min(len(a), len(b))))))
        width = (high - low) / bins or 1.0
        p, q = [0] * bins, [0] * bins
        for values, counts in ((a, p), (b, q)):
            for v in values:
                counts[min(int((v - low) / width), bins - 1)] += 1
        return jensen_shannon(p, q), f"histograms on {bins} common bins over [{low:.3g}, {high:.3g}]"
    if (new.prediction_counts is None) != (base.prediction_counts is None) and (
        new.prediction_values is not None or base.prediction_values is not None
    ):
        return 1.0, "one version answers class labels, the other real values"
    return None, "no predictions reported"


#: A shift above the threshold fails only when a test on the two samples finds it this
#: unlikely by chance: a healthy candidate's 20 answers must not fail it by noise.
SHIFT_ALPHA = 0.01


def shift_p_value(new: VersionMetrics, base: VersionMetrics) -> float | None:
    """How likely the two versions' live predictions come from one distribution.

    Classifiers: chi-squared test of homogeneity on the label counts. Regressors:
    two-sample Kolmogorov–Smirnov on the value samples. None when untestable.
    """
    if new.prediction_counts is not None and base.prediction_counts is not None:
        labels = sorted(set(new.prediction_counts) | set(base.prediction_counts))
        if len(labels) < 2:
            return None
        table = [[new.prediction_counts.get(label, 0) for label in labels],
                 [base.prediction_counts.get(label, 0) for label in labels]]
        return float(stats.chi2_contingency(table)[1])
    if new.prediction_values is not None and base.prediction_values is not None:
        a = [v for v in new.prediction_values if math.isfinite(v)]
        b = [v for v in base.prediction_values if math.isfinite(v)]
        if not a or not b:
            return None
        return float(stats.ks_2samp(a, b).pvalue)
    return None


class PredictionShiftGate(Gate):
    """Fails when the new version's live predictions drift from the current version's on the same
    window by more than ``max_shift`` (Jensen–Shannon divergence, base 2, 0..1), and a test
    on the two samples (chi-squared on labels, Kolmogorov–Smirnov on values) finds the
    difference significant at :data:`SHIFT_ALPHA` — so a small window cannot fail a
    healthy candidate by chance."""

    name = "prediction_shift"

    def __init__(self, max_shift: float) -> None:
        self.max_shift = max_shift

    def describe(self) -> str:
        return f"shift of the new version's predictions from the current version's ≤ {self.max_shift:g} (Jensen–Shannon)"

    def evaluate(self, window: StepWindow) -> GateResult:
        short = _baseline_short(window)
        if short is not None:
            return GateResult(self.name, None, None, self.max_shift, short)
        assert window.baseline is not None
        shift, how = prediction_shift(window.new, window.baseline)
        if shift is None:
            return GateResult(self.name, None, None, self.max_shift, how)
        if shift <= self.max_shift:
            return GateResult(self.name, True, shift, self.max_shift, how)
        p_value = shift_p_value(window.new, window.baseline)
        if p_value is not None and p_value >= SHIFT_ALPHA:
            return GateResult(self.name, True, shift, self.max_shift,
                              f"{how}; within chance on this sample (p={p_value:.3g} >= {SHIFT_ALPHA})")
        significance = f"; p={p_value:.2g}" if p_value is not None else ""
        return GateResult(self.name, False, shift, self.max_shift, how + significance)


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
        hint="built-in gates are set with the plan's own fields: " + ", ".join(sorted(set(BUILT_IN_GATES.values()))),
    )


def build_gates(plan: RolloutPlan) -> list[Gate]:
    """The gates ``plan`` asks for, built-in first (in the order of :data:`BUILT_IN_GATES`)."""
    gates: list[Gate] = []
    if plan.max_error_rate is not None:
        gates.append(ErrorRateGate(plan.max_error_rate))
    if plan.max_model_error_rate is not None:
        gates.append(ClassRateGate("model_error_rate", "model_errors", "model error", plan.max_model_error_rate))
    if plan.max_timeout_rate is not None:
        gates.append(ClassRateGate("timeout_rate", "timeouts", "timeout", plan.max_timeout_rate))
    if plan.input_error_margin is not None or plan.max_input_error_rate is not None:
        gates.append(InputErrorGate(plan.input_error_margin, plan.max_input_error_rate))
    if plan.fail_on_non_finite:
        gates.append(NonFiniteGate())
    for quantile in ("p50", "p99"):
        max_ms, max_ratio = getattr(plan, f"max_{quantile}_ms"), getattr(plan, f"max_{quantile}_ratio")
        if max_ms is not None:
            gates.append(LatencyGate(quantile, max_ms))
        if max_ratio is not None:
            gates.append(LatencyRatioGate(quantile, max_ratio))
    if plan.max_prediction_shift is not None:
        gates.append(PredictionShiftGate(plan.max_prediction_shift))
    for name, settings in plan.gates.items():
        if name in BUILT_IN_GATES:
            raise ValidationError(
                f"{name!r} is a built-in gate: set it with the plan's own field, not in [gates]",
                hint=f"e.g. {BUILT_IN_GATES[name]} = ...",
            )
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


#: Built-in gate names and the plan field that sets each.
BUILT_IN_GATES = {
    "error_rate": "max_error_rate",
    "model_error_rate": "max_model_error_rate",
    "timeout_rate": "max_timeout_rate",
    "input_error_rate": "input_error_margin / max_input_error_rate",
    "non_finite": "fail_on_non_finite",
    "p50_ms": "max_p50_ms",
    "p50_ratio": "max_p50_ratio",
    "p99_ms": "max_p99_ms",
    "p99_ratio": "max_p99_ratio",
    "prediction_shift": "max_prediction_shift",
}
