"""Which statistic scores a feature: the metric table and the presets.

A metric is a distance (breached when the score is *above* its threshold, as
Vertex AI does it) or a test whose score is a p-value (breached when the
p-value is *below* its threshold). Each has the feature types it applies to
and a default threshold:

============== ======================= ========= ===============================
metric         features                score     default threshold
============== ======================= ========= ===============================
jensen_shannon numerical, categorical  distance  ``MonitorSpec.default_threshold`` (0.3)
l_infinity     categorical             distance  ``MonitorSpec.default_threshold`` (0.3)
js_distance    numerical, categorical  distance  0.1 (√ of the base-2 divergence)
psi            numerical, categorical  distance  0.1
wasserstein    numerical               distance  0.1 (over the reference's std)
ks             numerical               p-value   0.05
chi2           categorical             p-value   0.05
============== ======================= ========= ===============================

Presets choose per feature:

- ``vertex`` (the default): Jensen–Shannon divergence for numerical features,
  L-infinity for categorical ones — Vertex AI's model monitoring.
- ``sensitive``: Evidently's documented default choice, by the number of
  reference values of the feature: up to 1,000, the KS test (numerical) or the
  chi² test (categorical) at p < 0.05 — their power grows with the sample; above
  1,000, where any test flags negligible differences, the normalised Wasserstein
  distance (numerical) or the Jensen–Shannon distance (categorical) at 0.1.

``MonitorSpec.metrics`` overrides the choice for single features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cloudeploy.errors import ValidationError

PRESETS = ("vertex", "sensitive")
#: Above this many reference values, ``sensitive`` uses distances instead of tests.
SMALL_SAMPLE = 1000


@dataclass(frozen=True)
class MetricInfo:
    """One statistic: the feature types it scores, whether its score is a p-value, its default."""

    name: str
    types: frozenset[str]
    p_value: bool = False
    #: None: the spec's ``default_threshold`` (the Vertex AI metrics).
    default_threshold: float | None = None


_BOTH = frozenset({"numerical", "categorical"})
METRICS: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo("jensen_shannon", _BOTH),
        MetricInfo("l_infinity", frozenset({"categorical"})),
        MetricInfo("js_distance", _BOTH, default_threshold=0.1),
        MetricInfo("psi", _BOTH, default_threshold=0.1),
        MetricInfo("wasserstein", frozenset({"numerical"}), default_threshold=0.1),
        MetricInfo("ks", frozenset({"numerical"}), p_value=True, default_threshold=0.05),
        MetricInfo("chi2", frozenset({"categorical"}), p_value=True, default_threshold=0.05),
    )
}


def metric_info(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of ``name``; ValidationError listing the known ones otherwise."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ValidationError(
            f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}"
        ) from None


def check_preset(name: str) -> str:
    if name not in PRESETS:
        raise ValidationError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return name


def preset_metric(preset: str, feature_type: str, reference_count: int) -> str:
    """The metric ``preset`` picks for a feature of ``feature_type`` with that many reference values."""
    numerical = feature_type == "numerical"
    if check_preset(preset) == "vertex":
        return "jensen_shannon" if numerical else "l_infinity"
    if reference_count <= SMALL_SAMPLE:
        return "ks" if numerical else "chi2"
    return "wasserstein" if numerical else "js_distance"


def is_breach(metric: str, score: float | None, threshold: float) -> bool:
    """A distance above its threshold, or a p-value below it."""
    if score is None:
        return False
    if METRICS.get(metric, METRICS["jensen_shannon"]).p_value:
        return score < threshold
    return score > threshold


def severity(metric: str, score: float | None, threshold: float) -> float:
    """How far past its threshold a score is: above 1 means breached, 0 without a score.

    Distances: ``score / threshold``. P-values: ``ln(p) / ln(threshold)``, so a
    p-value equal to the threshold is 1 and each factor of ``threshold`` smaller adds 1.
    """
    if score is None:
        return 0.0
    if not METRICS.get(metric, METRICS["jensen_shannon"]).p_value:
        if threshold == 0:
            return math.inf if score > 0 else 0.0
        return score / threshold
    if threshold <= 0:
        return 0.0
    if threshold >= 1:
        return math.inf if score < 1 else 0.0
    if score <= 0:
        return math.inf
    return math.log(score) / math.log(threshold)
