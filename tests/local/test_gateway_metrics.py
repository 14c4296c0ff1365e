"""The gateway's per-version log: error classes, latency quantiles and live predictions per window."""

from __future__ import annotations

from cloudeploy.providers.local.gateway.metrics import (
    VersionMetrics,
    error_class,
    summarize_predictions,
)


def test_each_answer_lands_in_one_error_class():
    assert error_class(200) is None
    assert error_class(400) == "input" and error_class(413) == "input"
    assert error_class(500, "model") == "model" and error_class(500, "non_finite") == "model"
    assert error_class(503) == "model" and error_class(429) == "model"
    assert error_class(504) == "timeout"


def test_a_window_counts_classes_non_finite_answers_and_label_shares():
    log = VersionMetrics()
    labels = summarize_predictions([0, 1, 1], "class_labels")
    for at, status, declared in [(1, 200, None), (2, 400, "input"), (3, 500, "model"), (4, 500, "non_finite"),
                                 (5, 504, None), (6, 200, None), (50, 200, None)]:
        log.record("v2", status, float(at), at=at, declared_class=declared,
                   predictions=labels if status == 200 else None)
    stats = log.window("v2", since=0, until=10)
    assert (stats.requests, stats.errors) == (6, 4)
    assert (stats.input_errors, stats.model_errors, stats.timeouts, stats.non_finite) == (1, 2, 1, 1)
    assert stats.prediction_counts == {"0": 2, "1": 4}
    assert stats.prediction_values is None
    assert stats.p50_ms == 3.5


def test_probabilities_count_as_their_arg_max_class_and_regressors_keep_values():
    assert summarize_predictions([[0.2, 0.8], [0.9, 0.1]], "probabilities") == ("labels", ("1", "0"))
    log = VersionMetrics()
    for at in range(30_000):
        log.record("v1", 200, 1.0, at=at, predictions=summarize_predictions([float(at)], "regression"))
    stats = log.window("v1", since=0, until=30_000)
    assert stats.prediction_counts is None
    assert len(stats.prediction_values) == 10_000
    assert stats.prediction_values[0] == 0.0 and stats.prediction_values[-1] > 29_000
