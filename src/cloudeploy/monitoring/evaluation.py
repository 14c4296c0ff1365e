"""Continuous evaluation: captured predictions joined to ground truth by request id.

Labels come later than predictions (a customer churns, a house sells). Given the
capture records and a label source, :func:`evaluate` joins them on
``request_id`` and reports, per time window of the *request* time, accuracy
(classification) or MAE and RMSE (regression), with the counts behind them.

Labels: a CSV file with columns ``request_id,label`` and optionally ``index``
(the row within a multi-instance request, default 0), or a mapping
``request_id -> label`` (or a list of labels, one per instance).
Predictions must be scalars, or objects with a ``"label"`` key.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.capture import read_capture
from cloudeploy.monitoring.spec import parse_duration

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class WindowEvaluation:
    """One window ``[start, end)``: joined predictions and the metric over them."""

    start: float
    end: float
    count: int
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"start": self.start, "end": self.end, "count": self.count}
        if self.accuracy is not None:
            data["accuracy"] = self.accuracy
        if self.mae is not None:
            data.update(mae=self.mae, rmse=self.rmse)
        return data


@dataclass(frozen=True)
class Evaluation:
    """Per-window metrics plus what could not be joined.

    ``unlabeled`` counts predictions without a label, ``unmatched_labels`` labels
    whose request was not found in the captures.
    """

    task: Task
    window: float
    windows: tuple[WindowEvaluation, ...]
    labeled: int
    unlabeled: int
    unmatched_labels: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "window": self.window,
            "labeled": self.labeled,
            "unlabeled": self.unlabeled,
            "unmatched_labels": self.unmatched_labels,
            "windows": [w.to_dict() for w in self.windows],
        }


def read_labels(source: str | Path | Mapping[str, Any]) -> dict[tuple[str, int], Any]:
    """Labels keyed by ``(request_id, index)`` from a CSV path or a mapping."""
    labels: dict[tuple[str, int], Any] = {}
    if isinstance(source, Mapping):
        for request_id, value in source.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            for index, label in enumerate(values):
                labels[(str(request_id), index)] = label
        return labels
    path = Path(source)
    if not path.is_file():
        raise ValidationError(f"labels file {path} does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "request_id" not in columns or "label" not in columns:
            raise ValidationError(
                f"{path} must have the columns request_id and label (it has {', '.join(columns) or 'none'})"
            )
        for line, row in enumerate(reader, start=2):
            try:
                index = int(row.get("index") or 0)
            except ValueError:
                raise ValidationError(
                    f"{path}:{line}: index must be an integer, got {row['index']!r}"
                ) from None
            labels[(row["request_id"], index)] = row["label"]
    return labels


def _as_label(value: Any) -> Any:
    if isinstance(value, Mapping):
        if "label" not in value:
            raise ValidationError(
                f"prediction {value!r} has no 'label' key; evaluation needs class labels"
            )
        value = value["label"]
    if isinstance(value, (list, tuple)):
        raise ValidationError(
            f"prediction {value!r} is not a scalar; evaluation needs labels or values"
        )
    return value


def _same_class(prediction: Any, label: Any) -> bool:
    try:
        return float(prediction) == float(label)
    except (TypeError, ValueError):
        return str(prediction) == str(label)


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"regression needs numbers; {what} {value!r} is not one") from None
    if not math.isfinite(number):
        raise ValidationError(f"regression needs finite numbers; {what} is {value!r}")
    return number


def evaluate(
    records: Iterable[dict[str, Any]] | str | Path,
    labels: str | Path | Mapping[str, Any],
    *,
    window: str | float = "1h",
    task: Task = "classification",
) -> Evaluation:
    """Join captured predictions to labels and score them per ``window`` of request time.

    ``records`` are capture records (see ``capture.read_capture``) or a capture
    directory. Windows are aligned to the epoch (``1h`` windows start on the
    hour) and listed oldest first; windows without labeled predictions are left out.
    """
    if task not in ("classification", "regression"):
        raise ValidationError(f"task must be 'classification' or 'regression', got {task!r}")
    seconds = parse_duration(window, what="window")
    if isinstance(records, (str, Path)):
        records = read_capture(records)
    truth = read_labels(labels)
    used: set[tuple[str, int]] = set()
    sums: dict[int, list[float]] = {}  # window -> [count, correct or abs error, squared error]
    unlabeled = 0
    for record in records:
        request_id = str(record.get("request_id"))
        ts = record.get("ts")
        predictions = record.get("predictions") or []
        if not isinstance(ts, (int, float)):
            continue
        bucket = math.floor(ts / seconds)
        for index, prediction in enumerate(predictions):
            key = (request_id, index)
            if key not in truth:
                unlabeled += 1
                continue
            used.add(key)
            totals = sums.setdefault(bucket, [0, 0.0, 0.0])
            totals[0] += 1
            predicted, actual = _as_label(prediction), truth[key]
            if task == "classification":
                totals[1] += _same_class(predicted, actual)
            else:
                error = _number(predicted, "prediction") - _number(actual, "label")
                totals[1] += abs(error)
                totals[2] += error * error
    windows = []
    for bucket in sorted(sums):
        count, first, second = sums[bucket]
        start = bucket * seconds
        if task == "classification":
            windows.append(
                WindowEvaluation(start, start + seconds, int(count), accuracy=first / count)
            )
        else:
            windows.append(
                WindowEvaluation(
                    start,
                    start + seconds,
                    int(count),
                    mae=first / count,
                    rmse=math.sqrt(second / count),
                )
            )
    return Evaluation(
        task=task,
        window=seconds,
        windows=tuple(windows),
        labeled=sum(w.count for w in windows),
        unlabeled=unlabeled,
        unmatched_labels=len(set(truth) - used),
    )
