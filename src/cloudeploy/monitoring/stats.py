"""The two distances of Vertex AI model monitoring, computed from their definitions.

- :func:`js_divergence`: the Jensen–Shannon **divergence** in base 2 between two
  histograms on the same bins, ``JSD(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M)`` with
  ``M = ½ (P + Q)`` and ``0 · log 0 = 0``. It lies in [0, 1]: 0 for identical
  distributions, 1 for distributions with disjoint supports. Evidently and NannyML
  report the Jensen–Shannon *distance*, its square root (scipy's
  ``jensenshannon`` too): a divergence of 0.09 is a distance of 0.3.
- :func:`linf_distance`: the L-infinity distance between two categorical
  distributions, ``max_c |P(c) − Q(c)|`` over the union of their categories, so a
  category seen only on one side counts with its whole frequency.

Both take counts or frequencies; each side is normalised to sum 1. Empty or
negative input is a :class:`~cloudeploy.errors.ValidationError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError

np = lazy.module("numpy")


def _distribution(counts: Any, label: str):
    values = np.asarray(counts, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValidationError(
            f"{label} must be a non-empty 1-D list of counts, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValidationError(f"{label} must hold finite, non-negative counts")
    total = values.sum()
    if total <= 0:
        raise ValidationError(f"{label} is empty (all counts are zero)")
    return values / total


def js_divergence(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
    """Jensen–Shannon divergence (base 2, in [0, 1]) between two histograms on the same bins."""
    p = _distribution(p_counts, "baseline histogram")
    q = _distribution(q_counts, "serving histogram")
    if p.shape != q.shape:
        raise ValidationError(f"histograms have different numbers of bins: {p.size} and {q.size}")
    m = 0.5 * (p + q)

    def kl_to_m(x):
        support = x > 0  # 0 · log 0 = 0; where x > 0, m > 0 too
        return float(np.sum(x[support] * np.log2(x[support] / m[support])))

    divergence = 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    return min(1.0, max(0.0, divergence))  # clip float round-off outside [0, 1]


def js_distance(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
    """The Jensen–Shannon distance, ``sqrt(js_divergence)``: what Evidently and NannyML report."""
    return js_divergence(p_counts, q_counts) ** 0.5


def frequencies(counts: Mapping[Any, float], label: str = "categories") -> dict[Any, float]:
    """Category counts normalised to frequencies that sum to 1."""
    total = 0.0
    for key, value in counts.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < 0
            or value != value
        ):
            raise ValidationError(
                f"{label}: count for {key!r} must be a non-negative number, got {value!r}"
            )
        total += value
    if total <= 0:
        raise ValidationError(f"{label} is empty (all counts are zero)")
    return {key: value / total for key, value in counts.items()}


def linf_distance(p_freqs: Mapping[Any, float], q_freqs: Mapping[Any, float]) -> float:
    """L-infinity distance ``max_c |P(c) − Q(c)|`` over the union of categories, in [0, 1]."""
    p = frequencies(p_freqs, "baseline categories")
    q = frequencies(q_freqs, "serving categories")
    return max(abs(p.get(c, 0.0) - q.get(c, 0.0)) for c in {*p, *q})
