"""Statistics beyond Vertex AI's two, on the same histograms: PSI, KS, Wasserstein, chi².

Every function takes the two sides as counts on the *same* bins (numerical: a
baseline's equal-width bins; categorical: one count per category, in the same
order on both sides), so they run on what monitoring already accumulates in one
streaming pass, never on raw rows. What binning means for each:

- :func:`psi`: the population stability index ``Σ (q − p) · ln(q / p)`` over
  the bins, with empty bins given a share of ``1e-4`` (Evidently's convention)
  so it stays finite. It is defined on bins; nothing is lost.
- :func:`ks_test`: the two-sample Kolmogorov–Smirnov statistic ``max |F − G|``
  read at the bin edges, and its two-sided p-value by Smirnov's asymptotic
  distribution (scipy's ``ks_2samp(method="asymp")``: ``kstwo.sf(D, round(nm/(n+m)))``).
  Reading the CDFs at the edges only can make the statistic smaller than on the
  raw values, never larger, so the test errs towards "no change".
- :func:`wasserstein`: the 1-Wasserstein distance between the histograms with
  each bin's mass at its centre (``∫ |F − G|``), divided by ``scale`` — the
  reference's standard deviation, at least ``1e-3``, as Evidently normalises it.
  Values beyond the outer edges were counted in the edge bins, so a shift far out
  of the training range is under-, never over-estimated.
- :func:`chi2_test`: Pearson's chi² test of homogeneity on the 2 × k table of
  counts (scipy's ``chi2_contingency(correction=False)``), categories empty on
  both sides dropped. Unlike a goodness-of-fit test against the reference's
  shares, it treats both sides as samples, and a category seen on one side only
  is a large, finite contribution instead of a division by zero.

Counts must be finite and non-negative; a side with no counts, mismatched
lengths or (for the tests) non-integer counts are a :class:`ValidationError`.
scipy supplies the two reference distributions and is imported when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError

np = lazy.module("numpy")
stats = lazy.module("scipy.stats")

#: The share an empty bin gets in :func:`psi` (Evidently's ``0.0001``).
PSI_EMPTY_SHARE = 1e-4
#: The smallest scale :func:`wasserstein` divides by (Evidently's ``0.001``).
MIN_SCALE = 1e-3


def _pair(p_counts: Any, q_counts: Any, *, integers: bool = False):
    sides = []
    for counts, label in ((p_counts, "reference counts"), (q_counts, "current counts")):
        values = np.asarray(counts, dtype=float)
        if values.ndim != 1 or values.size == 0:
            raise ValidationError(f"{label} must be a non-empty 1-D list, got shape {values.shape}")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValidationError(f"{label} must be finite and non-negative")
        if values.sum() <= 0:
            raise ValidationError(f"{label} are empty (all zero)")
        if integers and not np.all(values == np.round(values)):
            raise ValidationError(f"{label} must be whole numbers of rows for a statistical test")
        sides.append(values)
    if sides[0].shape != sides[1].shape:
        raise ValidationError(
            f"the two sides have different numbers of bins: {sides[0].size} and {sides[1].size}"
        )
    return sides[0], sides[1]


def psi(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
    """Population stability index of ``q`` (current) against ``p`` (reference), ≥ 0."""
    p, q = _pair(p_counts, q_counts)
    p = np.where(p > 0, p / p.sum(), PSI_EMPTY_SHARE)
    q = np.where(q > 0, q / q.sum(), PSI_EMPTY_SHARE)
    return max(0.0, float(np.sum((q - p) * np.log(q / p))))


def ks_test(p_counts: Sequence[int], q_counts: Sequence[int]) -> tuple[float, float]:
    """``(statistic, p_value)`` of the two-sided two-sample KS test on binned counts."""
    p, q = _pair(p_counts, q_counts, integers=True)
    n, m = p.sum(), q.sum()
    statistic = float(np.max(np.abs(np.cumsum(p) / n - np.cumsum(q) / m)))
    big, small = max(n, m), min(n, m)
    effective = round(big * small / (big + small))
    p_value = float(stats.kstwo.sf(statistic, max(effective, 1)))
    return statistic, min(1.0, max(0.0, p_value))


def bin_centres(edges: Sequence[float]):
    """Midpoints of the bins between consecutive ``edges``."""
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValidationError("bin edges must be at least two increasing numbers")
    return (edges[:-1] + edges[1:]) / 2


def wasserstein(
    edges: Sequence[float], p_counts: Sequence[float], q_counts: Sequence[float], scale: float
) -> float:
    """1-Wasserstein distance of the binned distributions over ``max(scale, 1e-3)``."""
    p, q = _pair(p_counts, q_counts)
    centres = bin_centres(edges)
    if centres.size != p.size:
        raise ValidationError(
            f"{len(edges)} bin edges do not fit {p.size} counts (need one edge more than counts)"
        )
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale >= 0:
        raise ValidationError(f"scale must be a non-negative number, got {scale!r}")
    gap = np.abs(np.cumsum(p / p.sum()) - np.cumsum(q / q.sum()))[:-1]
    distance = float(np.sum(gap * np.diff(centres)))
    return distance / max(float(scale), MIN_SCALE)


def binned_std(edges: Sequence[float], counts: Sequence[float]) -> float:
    """Standard deviation (ddof 0) of a histogram with each bin's mass at its centre."""
    centres = bin_centres(edges)
    weights = np.asarray(counts, dtype=float)
    if weights.sum() <= 0:
        return 0.0
    mean = np.average(centres, weights=weights)
    return float(np.sqrt(np.average((centres - mean) ** 2, weights=weights)))


def chi2_test(p_counts: Sequence[int], q_counts: Sequence[int]) -> tuple[float, float]:
    """``(statistic, p_value)`` of Pearson's chi² test that both sides share one distribution."""
    p, q = _pair(p_counts, q_counts, integers=True)
    table = np.vstack([p, q])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0  # one category on both sides: nothing can differ
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    p_value = float(stats.chi2.sf(statistic, table.shape[1] - 1))
    return statistic, min(1.0, max(0.0, p_value))
