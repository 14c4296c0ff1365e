"""Continuous evaluation: predictions joined to labels by request id, per window."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.evaluation import evaluate

from .conftest import capture_record, write_capture

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # on the hour


def record(request_id: str, ts: float, predictions: list) -> dict:
    data = capture_record(ts, ["x"], [[0.0]] * len(predictions), predictions=predictions)
    data["request_id"] = request_id
    return data


def test_accuracy_is_reported_per_window():
    records = [
        record("r1", T0 + 10, ["cat"]),
        record("r2", T0 + 20, ["dog"]),
        record("r3", T0 + 3700, ["cat"]),
    ]
    labels = {"r1": "cat", "r2": "cat", "r3": "cat"}
    result = evaluate(records, labels, window="1h")
    assert [(w.start, w.count, w.accuracy) for w in result.windows] == [
        (T0, 2, 0.5),
        (T0 + 3600, 1, 1.0),
    ]


def test_regression_reports_mae_and_rmse():
    records = [record("a", T0, [10.0]), record("b", T0 + 1, [4.0])]
    result = evaluate(records, {"a": 13.0, "b": 0.0}, task="regression")
    [window] = result.windows
    assert window.mae == pytest.approx(3.5)
    assert window.rmse == pytest.approx(((9 + 16) / 2) ** 0.5)


def test_multi_instance_requests_take_one_label_per_instance():
    result = evaluate([record("r", T0, [1, 0, 1])], {"r": [1, 1, 1]})
    assert result.windows[0].accuracy == pytest.approx(2 / 3)


def test_labels_from_csv_with_row_index(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label,index\nr,1,0\nr,0,1\n")
    result = evaluate([record("r", T0, [1, 1])], path)
    assert result.windows[0].accuracy == 0.5


def test_unjoined_predictions_and_labels_are_counted():
    result = evaluate([record("r1", T0, [1]), record("r2", T0, [1])], {"r1": 1, "gone": 0})
    assert (result.labeled, result.unlabeled, result.unmatched_labels) == (1, 1, 1)


def test_a_capture_directory_can_be_evaluated(tmp_path):
    write_capture(tmp_path, [record("r1", T0, [1]), record("r2", T0 + 5, [0])])
    assert evaluate(tmp_path, {"r1": 1, "r2": 1}).windows[0].accuracy == 0.5


def test_a_labels_csv_without_the_needed_columns_is_refused(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,y\nr,1\n")
    with pytest.raises(ValidationError, match="request_id and label"):
        evaluate([], path)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValidationError, match="task"):
        evaluate([], {}, task="ranking")


def test_regression_refuses_non_numeric_labels():
    with pytest.raises(ValidationError, match="label 'high'"):
        evaluate([record("r", T0, [1.0])], {"r": "high"}, task="regression")
