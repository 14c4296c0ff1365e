"""The comparative gates: each judges the candidate against the current version on the same window."""

from __future__ import annotations

import json

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.providers.base import VersionMetrics
from cloudeploy.rollout import RolloutPlan, run_promotion
from cloudeploy.rollout.gates import (
    StepWindow,
    build_gates,
    jensen_shannon,
    one_sided_p_value,
    prediction_shift,
)
from tests.rollout.fakes import FakeClock, FakeProvider


def metrics(version="v2", requests=200, **fields) -> VersionMetrics:
    classes = fields.get("input_errors", 0) + fields.get("model_errors", 0) + fields.get("timeouts", 0)
    fields.setdefault("p99_ms", 20.0)
    fields.setdefault("p50_ms", 5.0)
    return VersionMetrics(version=version, requests=requests, errors=fields.pop("errors", classes),
                          window_start=0.0, window_end=10.0, **fields)


def judge(plan: RolloutPlan, new: VersionMetrics, base: VersionMetrics | None, min_requests=None):
    window = StepWindow(None, "ep", new.version, new, base, plan.min_requests if min_requests is None else min_requests)
    return {gate.name: gate.evaluate(window) for gate in build_gates(plan)}


PLAN = RolloutPlan(steps=(10, 100), bake_s=1, min_requests=50, max_error_rate=0.05, max_p50_ratio=3,
                   max_p99_ratio=3, max_p50_ms=100, max_prediction_shift=0.1)


def test_the_error_rate_gate_counts_model_errors_and_timeouts_but_not_4xx():
    result = judge(PLAN, metrics(model_errors=6, timeouts=6, input_errors=50), metrics("v1", 800))["error_rate"]
    assert result.passed is False and result.value == pytest.approx(12 / 200)
    assert (result.new, result.baseline) == (pytest.approx(0.06), 0.0)


def test_a_4xx_rate_clearly_above_the_baselines_fails():
    result = judge(PLAN, metrics(input_errors=200), metrics("v1", 800, input_errors=1))["input_error_rate"]
    assert result.passed is False
    assert (result.new, result.baseline) == (1.0, pytest.approx(1 / 800))
    assert "p=" in result.detail


def test_a_4xx_rate_like_the_baselines_passes():
    # The same clients send the same share of bad requests to both versions.
    result = judge(PLAN, metrics(input_errors=11), metrics("v1", 800, input_errors=40))["input_error_rate"]
    assert result.passed is True


def test_a_small_4xx_gap_that_is_not_significant_passes():
    # 3 of 60 against 0 of 60: a 5-point gap, but chance explains it at the 1% level.
    result = judge(PLAN, metrics(requests=60, input_errors=3), metrics("v1", 60))["input_error_rate"]
    assert result.passed is True
    assert one_sided_p_value(3, 60, 0, 60) > 0.01


def test_the_4xx_comparison_waits_for_min_requests_on_the_baseline():
    result = judge(PLAN, metrics(input_errors=200), metrics("v1", 20))["input_error_rate"]
    assert result.passed is None and "v1 has 20 of 50 requests" in result.detail


def test_an_absolute_4xx_limit_fails_without_a_baseline():
    plan = RolloutPlan(steps=(100,), max_input_error_rate=0.1, input_error_margin="off")
    result = judge(plan, metrics(input_errors=30), None)["input_error_rate"]
    assert result.passed is False and result.threshold == 0.1


def test_one_non_finite_prediction_fails():
    result = judge(PLAN, metrics(model_errors=1, non_finite=1), metrics("v1", 800))["non_finite"]
    assert result.passed is False and result.new == 1


def test_non_finite_can_be_allowed():
    plan = RolloutPlan(steps=(100,), fail_on_non_finite=False)
    assert "non_finite" not in {gate.name for gate in build_gates(plan)}


def test_latency_ratios_compare_p50_and_p99_with_the_baseline():
    results = judge(PLAN, metrics(p50_ms=40.0, p99_ms=70.0), metrics("v1", 800, p50_ms=10.0, p99_ms=30.0))
    assert results["p50_ratio"].passed is False and results["p50_ratio"].value == pytest.approx(4.0)
    assert (results["p50_ratio"].new, results["p50_ratio"].baseline) == (40.0, 10.0)
    assert results["p99_ratio"].passed is True
    assert results["p50_ms"].passed is True


def test_class_shares_that_moved_break_the_prediction_shift_gate():
    constant = metrics(prediction_counts={"1": 200})
    base = metrics("v1", 800, prediction_counts={"0": 410, "1": 390})
    result = judge(PLAN, constant, base)["prediction_shift"]
    assert result.passed is False and result.value == pytest.approx(0.31, abs=0.02)


def test_a_healthy_candidate_is_not_failed_by_the_noise_of_a_small_window():
    """Two samples of 20 answers from the same 50/50 classifier: the JSD of their shares is
    often above 0.1 by chance; the chi-squared test keeps the gate from failing them."""
    import numpy as np

    rng = np.random.default_rng(7)
    small = RolloutPlan(steps=(10, 100), bake_s=1, min_requests=20, max_prediction_shift=0.1)
    failures = noisy = 0
    for _ in range(300):
        a, b = rng.binomial(20, 0.5, size=2)
        new = metrics(requests=20, prediction_counts={"0": int(a), "1": int(20 - a)})
        base = metrics("v1", 20, prediction_counts={"0": int(b), "1": int(20 - b)})
        result = judge(small, new, base)["prediction_shift"]
        noisy += result.value > 0.1
        failures += result.passed is False
    assert noisy > 0  # the threshold alone would have failed healthy candidates
    assert failures <= 3  # the test fails them at about its 1% level, at most


def test_a_constant_model_fails_even_on_a_small_window():
    small = RolloutPlan(steps=(10, 100), bake_s=1, min_requests=20, max_prediction_shift=0.1)
    result = judge(small, metrics(requests=20, prediction_counts={"1": 20}),
                   metrics("v1", 20, prediction_counts={"0": 10, "1": 10}))["prediction_shift"]
    assert result.passed is False and "p=" in result.detail


def test_labels_the_baseline_never_answered_are_named():
    shift, how = prediction_shift(metrics(prediction_counts={"no": 120, "yes": 80}),
                                  metrics("v1", prediction_counts={"0": 120, "1": 80}))
    assert shift == pytest.approx(1.0)
    assert "never answered: no, yes" in how


def test_similar_class_shares_pass():
    result = judge(PLAN, metrics(prediction_counts={"0": 95, "1": 105}),
                   metrics("v1", 800, prediction_counts={"0": 410, "1": 390}))["prediction_shift"]
    assert result.passed is True and result.value < 0.01


def test_regressor_values_are_compared_on_common_bins():
    import numpy as np

    rng = np.random.default_rng(0)
    base = metrics("v1", 800, prediction_values=tuple(rng.normal(size=800)))
    same = metrics(prediction_values=tuple(rng.normal(size=200)))
    shifted = metrics(prediction_values=tuple(rng.normal(loc=3.0, size=200)))
    assert judge(PLAN, same, base)["prediction_shift"].passed is True
    assert judge(PLAN, shifted, base)["prediction_shift"].passed is False


def test_jensen_shannon_is_zero_for_equal_and_one_for_disjoint_distributions():
    assert jensen_shannon([1, 1], [2, 2]) == pytest.approx(0.0)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


@pytest.mark.parametrize("field, value, fragment", [
    ("max_prediction_shift", 1.5, "max_prediction_shift must be between 0 and 1"),
    ("max_p50_ratio", -2, "max_p50_ratio must be a positive number"),
    ("max_p50_ms", 0, "max_p50_ms must be a positive number"),
    ("input_error_margin", "150%", "input_error_margin must be between 0 and 1"),
    ("max_timeout_rate", "lots", "invalid max_timeout_rate"),
    ("fail_on_non_finite", "yes", "fail_on_non_finite must be true or false"),
])
def test_thresholds_out_of_range_are_refused_naming_them(field, value, fragment):
    with pytest.raises(ValidationError, match=fragment):
        RolloutPlan(steps=(100,), **{field: value})


def test_a_built_in_gate_in_the_gates_table_is_refused_naming_its_field():
    with pytest.raises(ValidationError, match="'prediction_shift' is a built-in gate"):
        RolloutPlan(steps=(100,), gates={"prediction_shift": {"max": 0.1}})


def test_a_toml_plan_sets_the_comparative_gates(tmp_path):
    path = tmp_path / "rollout.toml"
    path.write_text('steps = [10, 100]\nmax_p50_ratio = 2\nmax_prediction_shift = 0.2\n'
                    'input_error_margin = "off"\nmax_model_error_rate = "1%"\n')
    plan = RolloutPlan.from_file(path)
    assert (plan.max_p50_ratio, plan.max_prediction_shift, plan.input_error_margin, plan.max_model_error_rate) == (
        2.0, 0.2, None, 0.01)


def test_a_yaml_plan_with_a_threshold_out_of_range_is_refused(tmp_path):
    path = tmp_path / "rollout.yaml"
    path.write_text("steps: [10, 100]\nmax_prediction_shift: 2\n")
    with pytest.raises(ValidationError, match="max_prediction_shift"):
        RolloutPlan.from_file(path)


def test_decisions_record_each_gates_numbers_for_both_versions(tmp_path):
    clock = FakeClock()

    def behaviour(counts):
        def measure(version, percent, seconds):
            requests = int(100 * seconds * percent / 100)
            share = {k: int(v * requests) for k, v in counts.items()}
            return metrics(version, requests, prediction_counts=share)
        return measure

    provider = FakeProvider(tmp_path, clock, {"v1": behaviour({"0": 0.5, "1": 0.5}), "v2": behaviour({"1": 1.0})})
    plan = RolloutPlan(steps=(50, 100), bake_s=5, min_requests=20, max_prediction_shift=0.1)
    result = run_promotion(provider, "ep", "v2", plan, clock=clock, sleep=clock.sleep)
    assert result.outcome == "rolled_back"
    rollback = result.decisions[-1]
    gate = next(g for g in rollback.gates if g["gate"] == "prediction_shift")
    assert gate["passed"] is False and gate["value"] > 0.1
    assert rollback.metrics["new"]["prediction_counts"]["1"] > 0
    assert set(rollback.metrics["baseline"]["prediction_counts"]) == {"0", "1"}
    assert "prediction_shift broke" in result.reason
    json.dumps(result.to_dict())  # --output json carries all of it
