"""Presets and per-feature metrics: which statistic scores a feature, and what it flags."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.detection import compute_drift, compute_skew
from cloudeploy.monitoring.result import FeatureResult, MonitoringResult
from cloudeploy.monitoring.spec import MonitorSpec

SHIFTED = ["f0", "f3", "f4", "f7", "f9"]
NAMES = [f"f{i}" for i in range(12)]


def _frames(rows: int, seed: int = 0):
    """The issue's case, smaller: reference and current rows, five features shifted by 0.5 std."""
    import pandas as pd

    scales = np.random.default_rng(42).uniform(0.5, 20.0, len(NAMES))
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(rng.normal(0.0, 1.0, (rows, len(NAMES))) * scales, columns=NAMES)
    current = pd.DataFrame(rng.normal(0.0, 1.0, (rows, len(NAMES))) * scales, columns=NAMES)
    for name in SHIFTED:
        current[name] += 0.5 * reference[name].std()
    return reference, current


@pytest.fixture(scope="module")
def large_case():
    reference, current = _frames(20_000)
    return compute_baseline(reference), current


def test_sensitive_flags_exactly_the_five_shifted_features_of_a_large_sample(large_case):
    baseline, current = large_case
    result = compute_skew(baseline, current, MonitorSpec(preset="sensitive"))
    assert {f.metric for f in result.features} == {"wasserstein"}
    assert sorted(f.name for f in result.breached) == sorted(SHIFTED)


def test_vertex_default_flags_none_of_a_half_std_shift(large_case):
    baseline, current = large_case
    result = compute_skew(baseline, current)
    assert {f.metric for f in result.features} == {"jensen_shannon"}
    assert result.breached == []


def test_sensitive_uses_the_ks_test_on_small_samples_and_flags_the_shift():
    reference, current = _frames(600, seed=3)
    result = compute_skew(compute_baseline(reference), current, MonitorSpec(preset="sensitive"))
    assert {f.metric for f in result.features} == {"ks"}
    for name in SHIFTED:
        assert result[name].breached and result[name].score < 1e-4
        assert 0 < result[name].statistic <= 1


def test_sensitive_uses_chi2_then_js_distance_for_categorical_features():
    rng = np.random.default_rng(1)
    small_ref = [[c] for c in rng.choice(["a", "b", "c"], 500, p=[0.5, 0.3, 0.2])]
    small_cur = [[c] for c in rng.choice(["a", "b", "c"], 500, p=[0.35, 0.35, 0.3])]
    spec = MonitorSpec(preset="sensitive")
    small = compute_skew(compute_baseline(small_ref), small_cur, spec)["x0"]
    assert small.metric == "chi2" and small.breached and small.statistic > 0
    big_ref = [[c] for c in rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])]
    big_same = [[c] for c in rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])]
    big = compute_skew(compute_baseline(big_ref), big_same, spec)["x0"]
    assert big.metric == "js_distance" and not big.breached and big.threshold == 0.1


def test_a_feature_metric_override_beats_the_preset_and_takes_its_default_threshold(large_case):
    baseline, current = large_case
    spec = MonitorSpec(metrics={"f0": "psi", "f1": "ks"}, metric_thresholds={"ks": 0.01})
    result = compute_skew(baseline, current, spec)
    assert (result["f0"].metric, result["f0"].threshold) == ("psi", 0.1)
    assert (result["f1"].metric, result["f1"].threshold) == ("ks", 0.01)
    assert result["f2"].metric == "jensen_shannon" and result["f2"].threshold == 0.3
    assert result["f0"].breached  # PSI of a 0.5 std shift is ~0.25


def test_a_per_feature_threshold_applies_whatever_the_metric(large_case):
    baseline, current = large_case
    spec = MonitorSpec(preset="sensitive", skew_thresholds={"f0": 0.9})
    assert not compute_skew(baseline, current, spec)["f0"].breached


def test_drift_between_windows_uses_the_preset_too(large_case):
    baseline, current = large_case
    reference, _ = _frames(20_000, seed=9)
    result = compute_drift(reference, current, baseline, MonitorSpec(preset="sensitive"))
    assert sorted(f.name for f in result.breached) == sorted(SHIFTED)


def test_a_metric_that_cannot_score_the_feature_type_is_refused():
    baseline = compute_baseline([["a"], ["b"]])
    with pytest.raises(ValidationError, match="metric ks cannot score categorical feature 'x0'"):
        compute_skew(baseline, [["a"]], MonitorSpec(metrics={"x0": "ks"}))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"preset": "evidently"}, "unknown preset 'evidently'; choose one of vertex, sensitive"),
        ({"metrics": {"age": "gini"}}, "unknown metric 'gini'"),
        ({"metric_thresholds": {"psi": 2}}, "must be in"),
        ({"metrics": ["age"]}, "metrics must be a mapping"),
    ],
)
def test_bad_metric_settings_are_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        MonitorSpec(**settings)


def test_metric_settings_round_trip_through_dicts():
    spec = MonitorSpec(preset="sensitive", metrics={"age": "psi"}, metric_thresholds={"ks": 0.01})
    assert MonitorSpec.from_dict(spec.to_dict()) == spec


def test_a_p_value_is_breached_below_its_threshold_and_grows_in_severity_as_it_falls():
    def result(p):
        return FeatureResult("x", "ks", "skew", (1,), (1,), score=p, threshold=0.05)

    assert not result(0.2).breached and result(0.2).severity < 1
    assert result(0.01).breached and result(0.01).severity > 1
    assert result(1e-6).severity > result(0.01).severity
    assert math.isinf(result(0.0).severity)


def test_results_with_tests_round_trip_with_their_statistic():
    feature = FeatureResult("x", "chi2", "drift", (5, 5), (9, 1), score=0.01, threshold=0.05,
                            categories=("a", "b"), statistic=6.9)
    data = MonitoringResult("drift", (feature,)).to_dict()
    again = MonitoringResult.from_dict(data)
    assert again["x"] == feature and data["breached"] == ["x"]
