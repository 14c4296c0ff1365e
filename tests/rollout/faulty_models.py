"""Estimators that misbehave on purpose, for rollout tests.

They wrap a fitted estimator and are pickled by reference to this module, so
the replica processes that load them must be able to import ``tests.rollout``:
put the repository root on PYTHONPATH before the endpoint's gateway starts, and
deploy them with ``trust=True`` (they are outside the unpickling allowlist).
"""

from __future__ import annotations

import time

from sklearn.base import BaseEstimator

#: A row whose last feature is at least this is "poison": FaultyModel raises on it.
POISON = 1000.0
POISON_ROW = [0.0, 0.0, 0.0, POISON]


class _Wrapper(BaseEstimator):
    """Built around an already fitted ``inner``, so it counts as fitted too."""

    def __init__(self, inner=None):
        self.inner = inner
        if inner is not None:
            self.n_features_in_ = inner.n_features_in_
            self.classes_ = inner.classes_


class FaultyModel(_Wrapper):
    """Raises RuntimeError (a 500 from the model server) on any batch holding a poison row."""

    def predict(self, X):
        if any(row[-1] >= POISON for row in _rows(X)):
            raise RuntimeError("FaultyModel: poison row")
        return self.inner.predict(X)


class SlowModel(_Wrapper):
    """Sleeps ``delay_ms`` before every predict call."""

    def __init__(self, inner=None, delay_ms: float = 200.0):
        super().__init__(inner)
        self.delay_ms = delay_ms

    def predict(self, X):
        time.sleep(self.delay_ms / 1000.0)
        return self.inner.predict(X)


def _rows(X):
    return X.tolist() if hasattr(X, "tolist") else X
