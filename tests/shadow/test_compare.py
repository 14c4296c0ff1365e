"""Agreement between two versions' answers on the same rows, and the shadow plan's settings."""

from __future__ import annotations

import math

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.providers.shadow_metrics import metrics_from_answers
from cloudeploy.rollout.plan import RolloutPlan
from cloudeploy.rollout.shadow import ShadowPlan, agreement_gate, compare


def test_classifier_agreement_is_the_share_of_equal_labels():
    agreement = compare([(0, 0), (1, 1), (1, 0), ("cat", "cat"), ("cat", "dog")])
    assert agreement.kind == "classification"
    assert (agreement.rows, agreement.agreeing) == (5, 3)
    assert agreement.share == pytest.approx(0.6)


def test_regressor_answers_agree_within_the_relative_tolerance():
    pairs = [(100.0, 104.5), (100.0, 111.0), (0.25, 0.3), (0.5, 1.75)]  # below 1 the error is absolute
    agreement = compare(pairs, tolerance=0.1)
    assert agreement.kind == "regression"
    assert agreement.agreeing == 2
    assert agreement.mean_abs_error == pytest.approx((4.5 + 11.0 + 0.05 + 1.25) / 4)


def test_a_non_finite_regressor_answer_never_agrees():
    agreement = compare([(1.5, math.nan), (2.5, 2.5)])
    assert agreement.agreeing == 1


def test_agreement_is_not_judged_below_min_rows():
    plan = ShadowPlan(duration_s=1, min_agreement=0.9)
    assert agreement_gate(compare([(0, 1)] * 5), plan, min_rows=10).passed is None
    assert agreement_gate(compare([(0, 1)] * 10), plan, min_rows=10).passed is False
    assert agreement_gate(compare([(1, 1)] * 10), plan, min_rows=10).passed is True


def test_candidate_metrics_count_error_classes_and_labels():
    metrics = metrics_from_answers("v2", [(200, 5.0, [1, 0]), (400, 1.0, None), (500, 2.0, None),
                                          (0, 30000.0, None), (200, 4.0, [math.inf])], since=0, until=1)
    assert (metrics.requests, metrics.input_errors, metrics.model_errors, metrics.timeouts) == (5, 1, 2, 1)
    assert metrics.non_finite == 1 and metrics.errors == 4
    assert dict(metrics.prediction_counts) == {"1": 1, "0": 1}


def test_plan_round_trips_its_shadow_phase():
    plan = RolloutPlan(shadow={"duration": "2m", "share": "25%", "min_agreement": "95%"})
    assert plan.shadow == ShadowPlan(duration_s=120, share=0.25, min_agreement=0.95)
    assert RolloutPlan.from_dict(plan.to_dict()) == plan
    assert plan.describe()[0].startswith("shadow: 2m on copies of 25%")


@pytest.mark.parametrize("settings, named", [
    ({"duration": "ten minutes"}, "shadow duration"),
    ({"duration": "0s"}, "shadow duration"),
    ({"duration": "1m", "share": "150%"}, "shadow share"),
    ({"duration": "1m", "share": 0}, "shadow share"),
    ({"duration": "1m", "min_agreement": 2}, "min agreement"),
    ({"duration": "1m", "tolerance": -1}, "tolerance"),
    ({"duration": "1m", "mirror": 1}, "mirror"),
])
def test_bad_shadow_settings_are_refused_naming_them(settings, named):
    with pytest.raises(ValidationError, match=named):
        RolloutPlan(shadow=settings)
