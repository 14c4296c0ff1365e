"""What a skew or drift computation returns: one :class:`FeatureResult` per feature.

Everything needed to recompute a score is in the result: the metric, the bin
edges (numerical) or the categories (categorical), both sides' counts, the
score and the threshold. ``to_dict`` is the ``monitor run --output json``
document; ``from_dict`` reads it back (reports can be drawn from saved JSON).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.metrics import is_breach, metric_info
from cloudeploy.monitoring.metrics import severity as metric_severity

Metric = Literal[
    "jensen_shannon", "l_infinity", "js_distance", "psi", "wasserstein", "ks", "chi2"
]
Kind = Literal["skew", "drift"]


@dataclass(frozen=True)
class FeatureResult:
    """The score of one feature against its threshold.

    Numerical features have counts per bin of ``bin_edges``
    (``len(bin_edges) == len(counts) + 1``), categorical ones per entry of
    ``categories``. ``baseline_counts`` are the training counts (skew) or the
    previous window's (drift). ``score`` is None when one side has no values;
    such a feature is never breached. For the tests (``ks``, ``chi2``) the score
    is the p-value, breached *below* the threshold, and ``statistic`` holds the
    test statistic (KS D, chi²); see :mod:`cloudeploy.monitoring.metrics`.
    """

    name: str
    metric: Metric
    kind: Kind
    baseline_counts: tuple[int, ...]
    serving_counts: tuple[int, ...]
    score: float | None
    threshold: float
    bin_edges: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None
    baseline_missing: int = 0
    serving_missing: int = 0
    note: str = ""
    statistic: float | None = None

    @property
    def p_value(self) -> bool:
        """True when ``score`` is a test's p-value (lower is worse)."""
        return metric_info(self.metric).p_value

    @property
    def breached(self) -> bool:
        """A distance above its threshold (Vertex AI's rule) or a p-value below it."""
        return is_breach(self.metric, self.score, self.threshold)

    @property
    def severity(self) -> float:
        """Above 1 means breached, 0 without a score: ``score / threshold`` for distances,
        ``ln(p) / ln(threshold)`` for p-values."""
        return metric_severity(self.metric, self.score, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "metric": self.metric}
        if self.bin_edges is not None:
            data["bin_edges"] = list(self.bin_edges)
        if self.categories is not None:
            data["categories"] = list(self.categories)
        data.update(
            baseline_counts=list(self.baseline_counts),
            serving_counts=list(self.serving_counts),
            baseline_missing=self.baseline_missing,
            serving_missing=self.serving_missing,
            score=self.score,
            threshold=self.threshold,
            breached=self.breached,
            severity=None if math.isinf(self.severity) else self.severity,
        )
        if self.statistic is not None:
            data["statistic"] = self.statistic
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureResult:
        try:
            return cls(
                name=data["name"],
                metric=data["metric"],
                kind=data["kind"],
                baseline_counts=tuple(data["baseline_counts"]),
                serving_counts=tuple(data["serving_counts"]),
                score=data["score"],
                threshold=float(data["threshold"]),
                bin_edges=tuple(data["bin_edges"]) if data.get("bin_edges") is not None else None,
                categories=tuple(data["categories"])
                if data.get("categories") is not None
                else None,
                baseline_missing=int(data.get("baseline_missing", 0)),
                serving_missing=int(data.get("serving_missing", 0)),
                note=data.get("note", ""),
                statistic=data.get("statistic"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValidationError(
                f"invalid feature result {data.get('name', '?')!r}: {error!r}"
            ) from None


@dataclass(frozen=True)
class MonitoringResult:
    """Skew or drift scores of every monitored feature, plus where they came from.

    ``baseline_rows`` / ``serving_rows`` count the rows compared; ``labels`` say
    what was monitored (endpoint, model, version, window bounds, ...).
    ``outliers`` is the window's outlier share (``rows``, ``outliers``,
    ``share``, ``threshold``, ``breached``; see ``novelty.OutlierShare``), or
    ``{"note": why not}``, or None when it was not asked for.
    """

    kind: Kind
    features: tuple[FeatureResult, ...]
    baseline_rows: int = 0
    serving_rows: int = 0
    labels: dict[str, Any] = field(default_factory=dict)
    generated_at: float = field(default_factory=time.time)
    outliers: dict[str, Any] | None = None
    attributions: dict[str, Any] | None = None

    @property
    def outliers_breached(self) -> bool:
        return bool(self.outliers and self.outliers.get("breached"))

    @property
    def attributions_breached(self) -> list[str]:
        """Features whose attribution drift is breached (see ``attribution.attribution_drift``)."""
        return list((self.attributions or {}).get("breached") or [])

    @property
    def breached(self) -> list[FeatureResult]:
        """Breached features, most severe first."""
        return [f for f in self.by_severity() if f.breached]

    def by_severity(self) -> list[FeatureResult]:
        """Features ordered by ``score / threshold``, highest first (ties by name)."""
        return sorted(self.features, key=lambda f: (-f.severity, f.name))

    def __getitem__(self, name: str) -> FeatureResult:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "generated_at": self.generated_at,
            "labels": dict(self.labels),
            "baseline_rows": self.baseline_rows,
            "serving_rows": self.serving_rows,
            "breached": [f.name for f in self.breached],
            "features": [f.to_dict() for f in self.by_severity()],
            **({"outliers": dict(self.outliers)} if self.outliers is not None else {}),
            **({"attributions": dict(self.attributions)} if self.attributions is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitoringResult:
        if not isinstance(data, dict) or data.get("kind") not in ("skew", "drift"):
            raise ValidationError("not a monitoring result: expected a 'kind' of skew or drift")
        return cls(
            kind=data["kind"],
            features=tuple(FeatureResult.from_dict(f) for f in data.get("features", [])),
            baseline_rows=int(data.get("baseline_rows", 0)),
            serving_rows=int(data.get("serving_rows", 0)),
            labels=dict(data.get("labels", {})),
            generated_at=float(data.get("generated_at", 0.0)),
            outliers=dict(data["outliers"]) if isinstance(data.get("outliers"), dict) else None,
            attributions=dict(data["attributions"]) if isinstance(data.get("attributions"), dict) else None,
        )
