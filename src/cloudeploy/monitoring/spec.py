"""``MonitorSpec``: what to monitor, against which thresholds, and where to alert.

A spec is a frozen value that validates itself on construction, so a bad
threshold or sampling rate is refused before anything is configured or
computed. Thresholds follow Vertex AI: a score *above* its threshold is a
breach, and features without their own threshold get ``default_threshold``
(0.3, Vertex AI's backend default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cloudeploy import durations
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.metrics import check_preset, metric_info, preset_metric

DEFAULT_THRESHOLD = 0.3
Kind = Literal["skew", "drift"]

def parse_duration(value: str | float | int, *, what: str = "duration") -> float:
    """Seconds in ``value`` (:func:`cloudeploy.durations.parse_duration`); windows and intervals are positive."""
    return durations.parse_duration(value, what=what, positive=True)


def _check_threshold(label: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{label} must be a number in [0, 1], got {value!r}")
    if not (0.0 <= float(value) <= 1.0):
        raise ValidationError(f"{label} must be in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class MonitorSpec:
    """Skew and drift monitoring settings for one endpoint.

    - ``skew_thresholds`` / ``drift_thresholds``: per-feature thresholds in [0, 1].
    - ``default_threshold``: for every feature without its own (0.3).
    - ``window``: the serving window compared, in seconds (``"1h"`` accepted).
    - ``interval``: how often monitoring runs, in seconds (Vertex AI rounds it up
      to whole hours).
    - ``sample_rate``: fraction of requests captured, in (0, 1].
    - ``alert_emails`` / ``webhook_url``: where breaches are sent besides the log.
    - ``features``: the features to monitor, or ``None`` for all of them.
    - ``training_data``: where the training dataset is (``gs://...csv`` or
      ``bq://project.dataset.table``), for Vertex AI's monitoring job only.
    - ``preset``: how each feature's statistic is chosen, ``"vertex"`` (the
      default: Jensen–Shannon / L-infinity) or ``"sensitive"`` (tests or
      distances by sample size); see :mod:`cloudeploy.monitoring.metrics`.
    - ``metrics``: ``{feature: metric}`` overriding the preset for single features.
    - ``outlier_threshold``: the share of a window's rows the package's novelty
      detector may flag before it is a breach (0.05; the detector flags 1% of
      the training rows).
    - ``attribution_threshold`` / ``attribution_rank_threshold``: a feature's
      attribution drift is breached when its share of the total mean |attribution|
      moves by more than 0.1, or its rank by more than 2 places.
    - ``metric_thresholds``: ``{metric: threshold}`` replacing a metric's default
      (``default_threshold`` stays the one of ``jensen_shannon`` and ``l_infinity``).
      A p-value metric is breached *below* its threshold.
    """

    skew_thresholds: Mapping[str, float] = field(default_factory=dict)
    drift_thresholds: Mapping[str, float] = field(default_factory=dict)
    default_threshold: float = DEFAULT_THRESHOLD
    window: float | str = 3600.0
    sample_rate: float = 1.0
    alert_emails: tuple[str, ...] = ()
    webhook_url: str | None = None
    interval: float | str = 3600.0
    features: tuple[str, ...] | None = None
    training_data: str | None = None
    preset: str = "vertex"
    metrics: Mapping[str, str] = field(default_factory=dict)
    metric_thresholds: Mapping[str, float] = field(default_factory=dict)
    outlier_threshold: float = 0.05
    attribution_threshold: float = 0.1
    attribution_rank_threshold: int = 2

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(
            self, "default_threshold", _check_threshold("default_threshold", self.default_threshold)
        )
        for attribute in ("skew_thresholds", "drift_thresholds"):
            raw = getattr(self, attribute)
            if not isinstance(raw, Mapping):
                raise ValidationError(
                    f"{attribute} must map feature names to thresholds, got {raw!r}"
                )
            cleaned = {
                str(name): _check_threshold(
                    f"{attribute.split('_')[0]} threshold for {name!r}", value
                )
                for name, value in raw.items()
            }
            set_(self, attribute, cleaned)
        set_(self, "window", parse_duration(self.window, what="window"))
        set_(self, "interval", parse_duration(self.interval, what="interval"))
        rate = self.sample_rate
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not (0.0 < float(rate) <= 1.0)
        ):
            raise ValidationError(f"sample_rate must be in (0, 1], got {rate!r}")
        set_(self, "sample_rate", float(rate))
        emails = (
            (self.alert_emails,) if isinstance(self.alert_emails, str) else tuple(self.alert_emails)
        )
        for email in emails:
            if not isinstance(email, str) or "@" not in email.strip("@"):
                raise ValidationError(f"alert e-mail {email!r} is not an e-mail address")
        set_(self, "alert_emails", emails)
        if self.webhook_url is not None and not str(self.webhook_url).startswith(
            ("http://", "https://")
        ):
            raise ValidationError(f"webhook_url must be an http(s) URL, got {self.webhook_url!r}")
        if self.features is not None:
            features = (self.features,) if isinstance(self.features, str) else tuple(self.features)
            if not features:
                raise ValidationError(
                    "features is empty: give at least one feature, or None for all"
                )
            set_(self, "features", tuple(str(f) for f in features))

        if self.training_data is not None and not str(self.training_data).startswith(("gs://", "bq://")):
            raise ValidationError(
                f"training_data must be a gs:// or bq:// URI, got {self.training_data!r}"
            )
        self._check_metrics()

    def _check_metrics(self) -> None:
        set_ = object.__setattr__
        set_(self, "preset", check_preset(self.preset))
        set_(self, "outlier_threshold", _check_threshold("outlier_threshold", self.outlier_threshold))
        set_(self, "attribution_threshold",
             _check_threshold("attribution_threshold", self.attribution_threshold))
        rank = self.attribution_rank_threshold
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValidationError(f"attribution_rank_threshold must be a whole number ≥ 0, got {rank!r}")
        for attribute in ("metrics", "metric_thresholds"):
            if not isinstance(getattr(self, attribute), Mapping):
                raise ValidationError(f"{attribute} must be a mapping, got {getattr(self, attribute)!r}")
        set_(self, "metrics", {str(f): metric_info(m).name for f, m in self.metrics.items()})
        set_(self, "metric_thresholds", {
            metric_info(m).name: _check_threshold(f"threshold of metric {m!r}", t)
            for m, t in self.metric_thresholds.items()
        })

    def threshold_for(self, feature: str, kind: Kind = "skew", metric: str | None = None) -> float:
        """The threshold that applies to ``feature`` for ``kind`` (skew or drift) scored by ``metric``.

        A feature's own threshold first; then ``metric_thresholds[metric]``; then
        the metric's default (``default_threshold`` for the Vertex AI metrics).
        """
        table = self.skew_thresholds if kind == "skew" else self.drift_thresholds
        if feature in table:
            return table[feature]
        if metric is None:
            return self.default_threshold
        if metric in self.metric_thresholds:
            return self.metric_thresholds[metric]
        default = metric_info(metric).default_threshold
        return self.default_threshold if default is None else default

    def metric_for(self, feature: str, feature_type: str, reference_count: int) -> str:
        """The metric scoring ``feature``: its override, else the preset's choice."""
        if feature in self.metrics:
            metric = self.metrics[feature]
            if feature_type not in metric_info(metric).types:
                raise ValidationError(
                    f"metric {metric} cannot score {feature_type} feature {feature!r}",
                    hint=f"{metric} applies to {', '.join(sorted(metric_info(metric).types))} features",
                )
            return metric
        return preset_metric(self.preset, feature_type, reference_count)

    @property
    def interval_hours(self) -> int:
        """The interval rounded up to whole hours, as Vertex AI schedules it."""
        return max(1, math.ceil(float(self.interval) / 3600.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "skew_thresholds": dict(self.skew_thresholds),
            "drift_thresholds": dict(self.drift_thresholds),
            "default_threshold": self.default_threshold,
            "window": self.window,
            "sample_rate": self.sample_rate,
            "alert_emails": list(self.alert_emails),
            "webhook_url": self.webhook_url,
            "interval": self.interval,
            "features": list(self.features) if self.features is not None else None,
            "training_data": self.training_data,
            "preset": self.preset,
            "metrics": dict(self.metrics),
            "metric_thresholds": dict(self.metric_thresholds),
            "outlier_threshold": self.outlier_threshold,
            "attribution_threshold": self.attribution_threshold,
            "attribution_rank_threshold": self.attribution_rank_threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"unknown monitor setting(s): {', '.join(unknown)}",
                hint=f"known settings: {', '.join(sorted(known))}",
            )
        values = dict(data)
        for key in ("alert_emails", "features"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)
