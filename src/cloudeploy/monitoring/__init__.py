"""Skew and drift monitoring: baselines, the statistics engine, reports and alerts.

Vertex AI's semantics everywhere: the Jensen–Shannon divergence (base 2) on the
training baseline's equal-width bins for numerical features, the L-infinity
distance for categorical ones, a per-feature threshold defaulting to 0.3.
See docs/monitoring.md.

Modules, one job each (names here are resolved lazily, so importing this package
pulls in neither numpy nor matplotlib):

- ``baseline``: training statistics for the manifest (``compute_baseline``, ``baseline_from_csv``)
- ``grid``: the exact one-pass histogram behind baselines
- ``stats``: ``js_divergence``, ``js_distance``, ``linf_distance``
- ``stattests``: ``psi``, ``ks_test``, ``wasserstein``, ``chi2_test`` on the same bins
- ``metrics``: which statistic scores a feature; presets ``vertex`` and ``sensitive``
- ``capture_arrow``: reading the server's columnar (Arrow) capture files
- ``novelty``: the package's outlier detector and ``outlier_share``
- ``attribution``: training vs serving attributions, ``attribution_drift``
- ``artifacts``: the package-time files (novelty detector, attributions)
- ``trend``: scores over consecutive windows (``history``), for the report
- ``histogram``: serving histograms on a baseline's bins (``serving_histograms``)
- ``capture``: reading capture files (``read_capture``, ``capture_histograms``)
- ``detection``: ``compute_skew``, ``compute_drift``, ``compute_drift_from_capture``
- ``result``: ``MonitoringResult``, ``FeatureResult``
- ``spec``: ``MonitorSpec``
- ``alerts``: ``send_alerts`` (log + webhook)
- ``report``: ``write_report`` (HTML with embedded plots + JSON)
- ``evaluation``: ``evaluate`` (accuracy / error over time from labels)
- ``run``: ``monitor``, ``configure``, ``status`` on any provider (``backend`` + ``local``,
  ``sagemaker``, ``vertex``)
- ``gate``: ``DriftGate``, the rollout gate ``drift`` (``promote --max-drift``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "compute_baseline": "cloudeploy.monitoring.baseline",
    "baseline_from_csv": "cloudeploy.monitoring.baseline",
    "js_divergence": "cloudeploy.monitoring.stats",
    "js_distance": "cloudeploy.monitoring.stats",
    "linf_distance": "cloudeploy.monitoring.stats",
    "psi": "cloudeploy.monitoring.stattests",
    "ks_test": "cloudeploy.monitoring.stattests",
    "wasserstein": "cloudeploy.monitoring.stattests",
    "chi2_test": "cloudeploy.monitoring.stattests",
    "capture_columns": "cloudeploy.monitoring.capture",
    "NoveltyDetector": "cloudeploy.monitoring.novelty",
    "fit_novelty": "cloudeploy.monitoring.novelty",
    "outlier_share": "cloudeploy.monitoring.novelty",
    "attribution_drift": "cloudeploy.monitoring.attribution",
    "history": "cloudeploy.monitoring.trend",
    "serving_histograms": "cloudeploy.monitoring.histogram",
    "HistogramSet": "cloudeploy.monitoring.histogram",
    "read_capture": "cloudeploy.monitoring.capture",
    "capture_files": "cloudeploy.monitoring.capture",
    "capture_histograms": "cloudeploy.monitoring.capture",
    "compute_skew": "cloudeploy.monitoring.detection",
    "compute_drift": "cloudeploy.monitoring.detection",
    "compute_drift_from_capture": "cloudeploy.monitoring.detection",
    "MonitoringResult": "cloudeploy.monitoring.result",
    "FeatureResult": "cloudeploy.monitoring.result",
    "MonitorSpec": "cloudeploy.monitoring.spec",
    "parse_duration": "cloudeploy.monitoring.spec",
    "send_alerts": "cloudeploy.monitoring.alerts",
    "send_alerts_in_background": "cloudeploy.monitoring.alerts",
    "AlertDelivery": "cloudeploy.monitoring.alerts",
    "write_report": "cloudeploy.monitoring.report",
    "evaluate": "cloudeploy.monitoring.evaluation",
    "monitor": "cloudeploy.monitoring.run",
    "configure": "cloudeploy.monitoring.run",
    "status": "cloudeploy.monitoring.run",
    "MonitorRun": "cloudeploy.monitoring.run",
    "DriftGate": "cloudeploy.monitoring.gate",
    "Evaluation": "cloudeploy.monitoring.evaluation",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from cloudeploy.monitoring.alerts import (  # noqa: F401
        AlertDelivery,
        send_alerts,
        send_alerts_in_background,
    )
    from cloudeploy.monitoring.attribution import attribution_drift  # noqa: F401
    from cloudeploy.monitoring.baseline import baseline_from_csv, compute_baseline  # noqa: F401
    from cloudeploy.monitoring.capture import (  # noqa: F401
        capture_columns,  # noqa: F401
        capture_files,
        capture_histograms,
        read_capture,
    )
    from cloudeploy.monitoring.detection import (  # noqa: F401
        compute_drift,
        compute_drift_from_capture,
        compute_skew,
    )
    from cloudeploy.monitoring.evaluation import Evaluation, evaluate  # noqa: F401
    from cloudeploy.monitoring.gate import DriftGate  # noqa: F401
    from cloudeploy.monitoring.histogram import HistogramSet, serving_histograms  # noqa: F401
    from cloudeploy.monitoring.novelty import NoveltyDetector, fit_novelty, outlier_share  # noqa: F401
    from cloudeploy.monitoring.report import write_report  # noqa: F401
    from cloudeploy.monitoring.result import FeatureResult, MonitoringResult  # noqa: F401
    from cloudeploy.monitoring.run import MonitorRun, configure, monitor, status  # noqa: F401
    from cloudeploy.monitoring.spec import MonitorSpec, parse_duration  # noqa: F401
    from cloudeploy.monitoring.stats import js_distance, js_divergence, linf_distance  # noqa: F401
    from cloudeploy.monitoring.stattests import chi2_test, ks_test, psi, wasserstein  # noqa: F401
    from cloudeploy.monitoring.trend import history  # noqa: F401


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cloudeploy.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
