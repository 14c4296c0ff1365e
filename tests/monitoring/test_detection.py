"""Skew and drift: scores from the definitions, thresholds, and recomputable results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.detection import compute_drift, compute_skew
from cloudeploy.monitoring.result import MonitoringResult
from cloudeploy.monitoring.spec import MonitorSpec
from cloudeploy.monitoring.stats import js_divergence, linf_distance


@pytest.fixture
def training() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 8, 5000),
            "income": rng.lognormal(10, 0.4, 5000),
            "city": rng.choice(["Paris", "Berlin", "Rome"], 5000, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture
def baseline(training) -> dict:
    return compute_baseline(training)


def test_serving_data_equal_to_training_scores_zero_everywhere(training, baseline):
    result = compute_skew(baseline, training)
    assert [f.score for f in result.features] == [0.0, 0.0, 0.0]
    assert result.breached == []


def test_numerical_score_is_the_jsd_of_the_reported_counts(training, baseline):
    serving = training.assign(age=training["age"] + 5)
    age = compute_skew(baseline, serving)["age"]
    assert age.metric == "jensen_shannon"
    assert age.score == pytest.approx(js_divergence(age.baseline_counts, age.serving_counts))
    assert list(age.baseline_counts) == baseline["features"][0]["bin_counts"]


def test_numerical_score_matches_a_direct_computation_with_numpy(training, baseline):
    serving = training.assign(age=training["age"] * 1.3)
    edges = np.array(baseline["features"][0]["bin_edges"])
    clipped = np.clip(
        serving["age"], edges[0], edges[-1]
    )  # out-of-range values go to the edge bins
    q, _ = np.histogram(clipped, bins=edges)
    p = np.array(baseline["features"][0]["bin_counts"], dtype=float)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    kl = lambda a: np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0]))  # noqa: E731
    assert compute_skew(baseline, serving)["age"].score == pytest.approx(0.5 * kl(p) + 0.5 * kl(q))


def test_categorical_score_is_linf_including_unseen_categories(baseline):
    serving = pd.DataFrame(
        {"age": [40.0] * 10, "income": [20000.0] * 10, "city": ["Paris"] * 6 + ["Oslo"] * 4}
    )
    city = compute_skew(baseline, serving)["city"]
    assert city.metric == "l_infinity"
    assert "Oslo" in city.categories
    base = dict(zip(city.categories, city.baseline_counts, strict=True))
    served = dict(zip(city.categories, city.serving_counts, strict=True))
    assert base["Oslo"] == 0 and served["Oslo"] == 4
    assert city.score == pytest.approx(linf_distance(base, served))


def test_a_score_above_its_threshold_is_breached_and_one_below_is_not(training, baseline):
    serving = training.assign(age=training["age"] + 20)
    score = compute_skew(baseline, serving)["age"].score
    above = compute_skew(baseline, serving, MonitorSpec(skew_thresholds={"age": score - 0.01}))[
        "age"
    ]
    at = compute_skew(baseline, serving, MonitorSpec(skew_thresholds={"age": score}))["age"]
    assert above.breached and not at.breached


def test_the_default_threshold_is_0_3(training, baseline):
    assert {f.threshold for f in compute_skew(baseline, training).features} == {0.3}


def test_features_of_the_spec_limit_what_is_scored(training, baseline):
    result = compute_skew(baseline, training, MonitorSpec(features=("city",)))
    assert [f.name for f in result.features] == ["city"]


def test_breached_features_come_most_severe_first(training, baseline):
    serving = training.assign(age=training["age"] + 30, income=training["income"] * 1.2)
    spec = MonitorSpec(skew_thresholds={"age": 0.5, "income": 0.01})
    result = compute_skew(baseline, serving, spec)
    severities = [f.severity for f in result.by_severity()]
    assert severities == sorted(severities, reverse=True)
    assert result.breached[0].name == max(result.features, key=lambda f: f.severity).name


def test_json_lets_anyone_recompute_every_score(training, baseline):
    serving = training.assign(age=training["age"] + 3, city="Rome")
    document = json.loads(json.dumps(compute_skew(baseline, serving).to_dict()))
    for entry in document["features"]:
        if entry["metric"] == "jensen_shannon":
            assert len(entry["bin_edges"]) == len(entry["serving_counts"]) + 1
            expected = js_divergence(entry["baseline_counts"], entry["serving_counts"])
        else:
            expected = linf_distance(
                dict(zip(entry["categories"], entry["baseline_counts"], strict=True)),
                dict(zip(entry["categories"], entry["serving_counts"], strict=True)),
            )
        assert entry["score"] == pytest.approx(expected)
        assert entry["breached"] == (entry["score"] > entry["threshold"])


def test_a_result_survives_a_round_trip_through_json(training, baseline):
    result = compute_skew(baseline, training.assign(city="Rome"), labels={"endpoint": "houses"})
    again = MonitoringResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.to_dict() == result.to_dict()


def test_a_feature_without_serving_values_has_no_score_and_is_not_breached(baseline):
    serving = pd.DataFrame({"age": [None] * 3, "income": [1.0] * 3, "city": ["Paris"] * 3})
    age = compute_skew(baseline, serving)["age"]
    assert age.score is None and not age.breached
    assert age.serving_missing == 3 and "no serving values" in age.note


def test_serving_values_outside_the_kept_categories_fold_into_other():
    baseline = compute_baseline([["a"]] * 5 + [["b"]] * 3 + [["c"]] * 2, max_categories=1)
    result = compute_skew(baseline, [["a"]] * 5 + [["z"]] * 5)["x0"]
    counts = dict(zip(result.categories, result.serving_counts, strict=True))
    assert counts == {"a": 5, "__other__": 5}
    assert result.score == pytest.approx(0.0)


def test_drift_compares_the_current_window_with_the_previous_one(training, baseline):
    previous = training.iloc[:2500]
    current = training.iloc[2500:].assign(age=lambda f: f["age"] + 10)
    result = compute_drift(previous, current, baseline, MonitorSpec(drift_thresholds={"age": 0.05}))
    assert result.kind == "drift"
    assert result["age"].kind == "drift" and result["age"].breached
    assert result["age"].score == pytest.approx(
        js_divergence(result["age"].baseline_counts, result["age"].serving_counts)
    )
    assert not result["income"].breached


def test_drift_of_identical_windows_is_zero(training, baseline):
    result = compute_drift(training, training, baseline)
    assert all(f.score == 0.0 for f in result.features)


def test_capture_filters_on_in_memory_data_are_refused(training, baseline):
    with pytest.raises(ValidationError, match="since.*capture files"):
        compute_skew(baseline, training, since=0)
