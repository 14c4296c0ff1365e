"""The versions every shadow test deploys: plain scikit-learn estimators on one data set.

- ``serving``: a random forest (the version users are answered by);
- ``agreeing``: the same estimator retrained with another ``random_state``
  (answers like the serving version on ~98% of rows);
- ``disagreeing``: the same estimator fitted on shuffled labels (agrees on about
  half the rows, as a coin would).
"""

from __future__ import annotations

from functools import cache


@cache
def _data():
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=4, n_informative=3, n_redundant=0, random_state=7)
    return X, y, np.random.default_rng(3).permutation(y)


def _forest(random_state: int, shuffled: bool = False):
    from sklearn.ensemble import RandomForestClassifier

    X, y, shuffled_y = _data()
    return RandomForestClassifier(n_estimators=25, max_depth=6, random_state=random_state).fit(
        X, shuffled_y if shuffled else y)


def serving():
    return _forest(0)


def agreeing():
    return _forest(1)


def disagreeing():
    return _forest(0, shuffled=True)


def instances(n: int = 200) -> list[list[float]]:
    """Rows from the training distribution, as clients send them."""
    X, _, _ = _data()
    return X[:n].round(4).tolist()


def bodies(n: int = 200) -> tuple[dict, ...]:
    """One single-row request body per instance (a client stream cycles through them)."""
    return tuple({"instances": [row]} for row in instances(n))


@cache
def _regression_data():
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=300, n_features=4, noise=5.0, random_state=11)
    return X, y + 500.0  # answers far from 0, so the tolerance is relative


def regressor(alpha: float = 1.0):
    from sklearn.linear_model import Ridge

    X, y = _regression_data()
    return Ridge(alpha=alpha).fit(X, y)


def constant_regressor():
    from sklearn.dummy import DummyRegressor

    X, y = _regression_data()
    return DummyRegressor(strategy="mean").fit(X, y)


def regression_bodies(n: int = 200) -> tuple[dict, ...]:
    X, _ = _regression_data()
    return tuple({"instances": [row]} for row in X[:n].round(4).tolist())
