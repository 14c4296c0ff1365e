"""Skew (serving vs training) and drift (this window vs the previous one).

By default (preset ``vertex``) numerical features are scored with the
Jensen–Shannon divergence on the baseline's equal-width bins, categorical
features with the L-infinity distance; the spec's preset or per-feature
``metrics`` choose others (PSI, KS, Wasserstein, chi², JS distance: see
:mod:`cloudeploy.monitoring.metrics`), always on the same bins and categories.
Each score is compared with the spec's threshold for that feature and metric.

Serving data can be given as capture files (a directory, a file, or a list of
them: read in one streaming pass by :func:`~cloudeploy.monitoring.capture.capture_histograms`),
as rows, arrays or DataFrames, or as a ready :class:`HistogramSet`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from os import PathLike
from typing import Any

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import OTHER, baseline_features
from cloudeploy.monitoring.capture import capture_histograms
from cloudeploy.monitoring.histogram import FeatureHistogram, HistogramSet, serving_histograms
from cloudeploy.monitoring.result import FeatureResult, Kind, MonitoringResult
from cloudeploy.monitoring.spec import MonitorSpec
from cloudeploy.monitoring.stats import js_distance, js_divergence, linf_distance
from cloudeploy.monitoring.stattests import binned_std, chi2_test, ks_test, psi, wasserstein


def _is_capture_source(source: Any) -> bool:
    if isinstance(source, (str, PathLike)):
        return True
    return (
        isinstance(source, Sequence)
        and len(source) > 0
        and all(isinstance(item, (str, PathLike)) for item in source)
    )


def _histograms(
    source: Any, baseline: dict[str, Any], spec: MonitorSpec, **capture_filters: Any
) -> HistogramSet:
    if isinstance(source, HistogramSet):
        return source
    if _is_capture_source(source):
        return capture_histograms(source, baseline, features=spec.features, **capture_filters)
    given = sorted(k for k, v in capture_filters.items() if v is not None)
    if given:
        raise ValidationError(
            f"{', '.join(given)} filter(s) capture files; the serving data given is "
            f"{type(source).__name__}, not a capture directory or file"
        )
    return serving_histograms(source, baseline, features=spec.features)


def _numerical(
    name: str,
    kind: Kind,
    edges: list[float],
    reference: list[int],
    current: FeatureHistogram,
    spec: MonitorSpec,
    reference_missing: int,
    scale: float | None = None,
) -> FeatureResult:
    """Score one numerical feature; ``scale`` (the reference's std) normalises Wasserstein."""
    serving = current.counts.tolist()
    metric = spec.metric_for(name, "numerical", int(sum(reference)))
    score, statistic, note = None, None, ""
    if sum(reference) == 0:
        note = "no baseline values" if kind == "skew" else "no values in the previous window"
    elif sum(serving) == 0:
        note = "no serving values" if kind == "skew" else "no values in the current window"
    elif metric == "wasserstein":
        spread = binned_std(edges, reference) if scale is None else scale
        score = wasserstein(edges, reference, serving, spread)
    else:
        score, statistic = _score(metric, reference, serving)
    return FeatureResult(
        name=name,
        metric=metric,  # type: ignore[arg-type]
        kind=kind,
        bin_edges=tuple(edges),
        baseline_counts=tuple(int(c) for c in reference),
        serving_counts=tuple(int(c) for c in serving),
        score=score,
        threshold=spec.threshold_for(name, kind, metric),
        baseline_missing=reference_missing,
        serving_missing=current.missing,
        note=note,
        statistic=statistic,
    )


def _score(metric: str, reference: list, current: list) -> tuple[float, float | None]:
    """``(score, test statistic or None)`` of ``metric`` on aligned counts (not Wasserstein)."""
    if metric == "jensen_shannon":
        return js_divergence(reference, current), None
    if metric == "js_distance":
        return js_distance(reference, current), None
    if metric == "psi":
        return psi(reference, current), None
    if metric == "ks":
        statistic, p_value = ks_test(reference, current)
        return p_value, statistic
    if metric == "chi2":
        statistic, p_value = chi2_test(reference, current)
        return p_value, statistic
    raise ValidationError(f"metric {metric} does not score binned counts")


def _fold(counts: dict[str, int], kept: set[str] | None) -> dict[str, int]:
    """Fold categories outside ``kept`` into the OTHER bucket (when the baseline folded some)."""
    if kept is None:
        return dict(counts)
    folded: dict[str, int] = {}
    for key, value in counts.items():
        target = key if key in kept else OTHER
        folded[target] = folded.get(target, 0) + value
    return folded


def _categorical(
    name: str,
    kind: Kind,
    reference: dict[str, int],
    current: dict[str, int],
    spec: MonitorSpec,
    reference_missing: int,
    current_missing: int,
    kept: set[str] | None,
) -> FeatureResult:
    reference, current = _fold(reference, kept), _fold(current, kept)
    order = sorted(reference, key=lambda c: (c == OTHER, -reference[c], c))
    order += sorted(
        (c for c in current if c not in reference), key=lambda c: (c == OTHER, -current[c], c)
    )
    metric = spec.metric_for(name, "categorical", int(sum(reference.values())))
    score, statistic, note = None, None, ""
    if sum(reference.values()) == 0:
        note = "no baseline values" if kind == "skew" else "no values in the previous window"
    elif sum(current.values()) == 0:
        note = "no serving values" if kind == "skew" else "no values in the current window"
    elif metric == "l_infinity":
        score = linf_distance(reference, current)
    else:
        aligned = [reference.get(c, 0) for c in order], [current.get(c, 0) for c in order]
        score, statistic = _score(metric, *aligned)
    return FeatureResult(
        name=name,
        metric=metric,  # type: ignore[arg-type]
        kind=kind,
        categories=tuple(order),
        baseline_counts=tuple(reference.get(c, 0) for c in order),
        serving_counts=tuple(current.get(c, 0) for c in order),
        score=score,
        threshold=spec.threshold_for(name, kind, metric),
        baseline_missing=reference_missing,
        serving_missing=current_missing,
        note=note,
        statistic=statistic,
    )


def _kept_categories(entry: dict[str, Any]) -> set[str] | None:
    return set(entry["categories"]) if entry.get("other", 0) > 0 else None


def compute_skew(
    baseline: dict[str, Any],
    serving: Any,
    spec: MonitorSpec | None = None,
    *,
    since: Any = None,
    until: Any = None,
    version: str | None = None,
    labels: dict[str, Any] | None = None,
) -> MonitoringResult:
    """Score serving data against the training baseline, feature by feature.

    ``since`` / ``until`` / ``version`` filter capture records when ``serving``
    is capture files. Features follow ``spec.features`` (default: all).
    """
    spec = spec or MonitorSpec()
    histograms = _histograms(serving, baseline, spec, since=since, until=until, version=version)
    results = []
    for entry in baseline_features(baseline):
        name = entry["name"]
        if name not in histograms.histograms:
            continue
        current = histograms[name]
        if entry["type"] == "numerical":
            results.append(
                _numerical(
                    name,
                    "skew",
                    entry["bin_edges"],
                    entry["bin_counts"],
                    current,
                    spec,
                    entry.get("missing", 0),
                    scale=entry.get("std"),
                )
            )
        else:
            reference = dict(entry["categories"])
            if entry.get("other", 0) > 0:
                reference[OTHER] = entry["other"]
            results.append(
                _categorical(
                    name,
                    "skew",
                    reference,
                    dict(current.categories),
                    spec,
                    entry.get("missing", 0),
                    current.missing,
                    _kept_categories(entry),
                )
            )
    return MonitoringResult(
        kind="skew",
        features=tuple(results),
        baseline_rows=int(baseline.get("rows", 0)),
        serving_rows=histograms.rows,
        labels=dict(labels or {}),
    )


def compute_drift(
    previous: Any,
    current: Any,
    baseline: dict[str, Any],
    spec: MonitorSpec | None = None,
    *,
    labels: dict[str, Any] | None = None,
) -> MonitoringResult:
    """Score the current serving window against the previous one.

    The baseline supplies the bins and feature types only; ``baseline_counts`` in
    the result are the previous window's counts.
    """
    spec = spec or MonitorSpec()
    before = _histograms(previous, baseline, spec)
    after = _histograms(current, baseline, spec)
    results = []
    for entry in baseline_features(baseline):
        name = entry["name"]
        if name not in before.histograms or name not in after.histograms:
            continue
        if entry["type"] == "numerical":
            results.append(
                _numerical(
                    name,
                    "drift",
                    entry["bin_edges"],
                    before[name].counts.tolist(),
                    after[name],
                    spec,
                    before[name].missing,
                )
            )
        else:
            results.append(
                _categorical(
                    name,
                    "drift",
                    dict(before[name].categories),
                    dict(after[name].categories),
                    spec,
                    before[name].missing,
                    after[name].missing,
                    _kept_categories(entry),
                )
            )
    return MonitoringResult(
        kind="drift",
        features=tuple(results),
        baseline_rows=before.rows,
        serving_rows=after.rows,
        labels=dict(labels or {}),
    )


def compute_drift_from_capture(
    capture: Any,
    baseline: dict[str, Any],
    spec: MonitorSpec | None = None,
    *,
    now: float | None = None,
    version: str | None = None,
    labels: dict[str, Any] | None = None,
) -> MonitoringResult:
    """Drift between the last two ``spec.window``-long windows of capture files, ending at ``now``."""
    spec = spec or MonitorSpec()
    end = time.time() if now is None else float(now)
    window = float(spec.window)
    windows = [(end - 2 * window, end - window), (end - window, end)]
    previous, current = (
        capture_histograms(
            capture, baseline, features=spec.features, since=start, until=stop, version=version
        )
        for start, stop in windows
    )
    context = {
        "previous_window": list(windows[0]),
        "current_window": list(windows[1]),
        **(labels or {}),
    }
    return compute_drift(previous, current, baseline, spec, labels=context)
