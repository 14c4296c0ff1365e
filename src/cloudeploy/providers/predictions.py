"""Tallying a version's live answers for the prediction-shift gate.

A provider that can see what a version answered (the local gateway's log,
SageMaker data capture, Vertex AI request-response logging) feeds each
answered request's ``predictions`` list to a :class:`PredictionTally` and puts
:meth:`PredictionTally.result` into ``VersionMetrics.prediction_counts`` /
``prediction_values``:

- labels (str, bool or int predictions: a classifier) are counted, keyed by
  their ``str``; a list of class scores counts as the index of its largest;
- numbers with a fractional part among them (a regressor) are kept as a
  uniform sample of at most :data:`~cloudeploy.providers.base.MAX_PREDICTION_VALUES`
  values (reservoir sampling, seeded, so the same answers give the same sample);
- anything else (dicts, None, NaN and infinities: the model server answers
  those with a 5xx, a model error) is not a distribution the gate compares: it
  is ignored.

A tally that saw labels and fractional numbers both reports the numbers (a
regressor may answer 3 and 3.5); one that saw nothing reports ``(None, None)``:
the gate cannot judge.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from cloudeploy.providers.base import MAX_PREDICTION_VALUES


class PredictionTally:
    """Counts of labels and a bounded sample of numbers from answered requests."""

    def __init__(self, max_values: int = MAX_PREDICTION_VALUES, seed: int = 0) -> None:
        self.labels: Counter[str] = Counter()
        self.values: list[float] = []
        self.seen_numbers = 0
        self.fractional = False
        self.max_values = max_values
        self._random = random.Random(seed)

    def add(self, predictions: Iterable[Any]) -> None:
        """One answer's predictions (a list, one per instance)."""
        for prediction in predictions:
            if (
                isinstance(prediction, list | tuple)
                and prediction
                and all(isinstance(p, int | float) and not isinstance(p, bool) for p in prediction)
            ):
                # Scores per class: the label is the arg-max index, as the local gateway counts it.
                self.labels[str(max(range(len(prediction)), key=prediction.__getitem__))] += 1
            elif isinstance(prediction, str | bool):
                self.labels[str(prediction)] += 1
            elif isinstance(prediction, int | float) and math.isfinite(prediction):
                number = float(prediction)
                if isinstance(prediction, float) and not number.is_integer():
                    self.fractional = True
                else:
                    self.labels[str(int(number))] += 1
                self._sample(number)

    def _sample(self, number: float) -> None:
        self.seen_numbers += 1
        if len(self.values) < self.max_values:
            self.values.append(number)
            return
        slot = self._random.randrange(self.seen_numbers)
        if slot < self.max_values:
            self.values[slot] = number

    def result(self) -> tuple[dict[str, int] | None, tuple[float, ...] | None]:
        """``(prediction_counts, prediction_values)``: one of them set, or neither."""
        if self.fractional:
            return None, tuple(self.values)
        if self.labels:
            return dict(self.labels), None
        return None, None
