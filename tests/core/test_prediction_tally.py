"""PredictionTally: what the cloud providers make of a version's recorded answers."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

from cloudeploy.providers.base import MAX_PREDICTION_VALUES
from cloudeploy.providers.predictions import PredictionTally
from cloudeploy.testing import zoo


def answers_of(model, rows) -> list:
    """What a model server answers, one JSON-decoded list per single-row request."""
    import json

    return [json.loads(json.dumps(model.predict(np.array([row])).tolist())) for row in rows]


def test_a_classifiers_labels_are_counted_by_their_text():
    tally = PredictionTally()
    for answer in answers_of(zoo.baseline_classifier(), zoo.traffic(50)):
        tally.add(answer)
    counts, values = tally.result()
    assert values is None and set(counts) <= {"0", "1"} and sum(counts.values()) == 50


def test_string_labels_are_kept_as_they_are():
    tally = PredictionTally()
    X, y, _ = zoo.training_data()
    model = LogisticRegression().fit(X, np.where(y == 1, "yes", "no"))
    for answer in answers_of(model, zoo.traffic(20)):
        tally.add(answer)
    assert set(tally.result()[0]) <= {"yes", "no"}


def test_a_regressors_values_are_sampled_not_counted():
    tally = PredictionTally()
    for answer in answers_of(zoo.baseline_regressor(), zoo.traffic(30)):
        tally.add(answer)
    counts, values = tally.result()
    assert counts is None and len(values) == 30


def test_the_value_sample_never_exceeds_its_bound():
    tally = PredictionTally()
    values = np.random.default_rng(0).normal(size=MAX_PREDICTION_VALUES + 500).tolist()
    tally.add(values)
    assert len(tally.result()[1]) == MAX_PREDICTION_VALUES


def test_class_scores_count_as_the_index_of_the_largest():
    tally = PredictionTally()
    X, y, _ = zoo.training_data()
    scores = LogisticRegression().fit(X, y).predict_proba(np.array(zoo.traffic(10))).tolist()
    tally.add(scores)
    expected = np.argmax(np.array(scores), axis=1)
    assert tally.result()[0] == {str(k): int((expected == k).sum()) for k in set(expected.tolist())}


def test_non_finite_values_and_nothing_at_all_give_no_distribution():
    tally = PredictionTally()
    tally.add([float("nan"), float("inf"), None, {"a": 1}])
    assert tally.result() == (None, None)


def test_a_regressor_answering_whole_numbers_then_fractions_is_a_regressor():
    tally = PredictionTally()
    model = LinearRegression().fit([[0.0], [1.0]], [3.0, 4.5])
    tally.add([3.0])
    tally.add(model.predict([[1.0]]).tolist())
    assert tally.result() == (None, (3.0, 4.5))
