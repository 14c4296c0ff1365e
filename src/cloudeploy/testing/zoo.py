"""The failure zoo: candidate models that fail the way real models fail.

A rollout's gates are only as good as the failures they were tried on. Each
:class:`ZooCase` builds a fitted candidate that replaces a healthy baseline on
the same traffic, and says which gate must stop it. The traffic is four
numeric features (``x0..x3``) sent as lists; the baselines are a
``LogisticRegression`` (classifier cases) and a ``LinearRegression``
(regressor cases) fitted on :func:`training_data`.

Plain scikit-learn estimators and pipelines wherever the failure can be made
with them; the few small estimators defined here exist only where scikit-learn
cannot fail that way (drop rows, sleep, kill its process, refuse to unpickle).
Cases holding one of them have ``trust=True``: deploy them with ``trust=True``
(they are outside the unpickling allowlist). This module is importable
wherever cloudeploy is installed, so replicas and emulators can unpickle them.

Every provider's zoo test runs :data:`CASES` the same way::

    for case in CASES:
        model = case.build()
        ...deploy model with no traffic, promote it under ZOO_PLAN with a
        request stream of rows from traffic(); expect a rollback (exit 3)...

and :func:`healthy_candidate` must still be promoted under the same plan.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.base import BaseEstimator

#: The features of the zoo's traffic.
N_FEATURES = 4
#: Seconds a "10x slower" candidate sleeps per predict call (a baseline answers in a few ms).
SLOW_DELAY_S = 0.25

#: The rollout plan (RolloutPlan keyword arguments) the zoo tests promote under: short bakes,
#: small minimums, and every comparative gate on.
ZOO_PLAN: dict[str, Any] = {
    "steps": (20, 50, 100),
    "bake_s": 1.0,
    "min_requests": 20,
    "max_wait_s": 60.0,
    "max_error_rate": 0.05,
    "max_p50_ratio": 4.0,
    "max_prediction_shift": 0.1,
}


def training_data(seed: int = 0, rows: int = 200):
    """``(X, y_class, y_value)``: standard normal features, a binary label and a real target."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, N_FEATURES))
    score = X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2]
    y_class = (score + rng.normal(scale=0.1, size=rows) > 0).astype(int)
    y_value = 3.0 * score + 1.0 + rng.normal(scale=0.1, size=rows)
    return X, y_class, y_value


def traffic(n: int = 200, seed: int = 99) -> list[list[float]]:
    """``n`` rows like the serving traffic (JSON-ready lists of 4 floats)."""
    X, _, _ = training_data(seed, rows=n)
    return X.round(4).tolist()


def baseline_classifier(seed: int = 0):
    """The healthy version serving the classifier endpoint."""
    from sklearn.linear_model import LogisticRegression

    X, y, _ = training_data(seed)
    return LogisticRegression().fit(X, y)


def healthy_candidate(seed: int = 1):
    """A candidate that must be promoted: the same kind of model, refitted on fresh data."""
    from sklearn.linear_model import LogisticRegression

    X, y, _ = training_data(seed)
    return LogisticRegression(C=2.0).fit(X, y)


def baseline_regressor(seed: int = 0):
    """The healthy version serving the regressor endpoint."""
    from sklearn.linear_model import LinearRegression

    X, _, y = training_data(seed)
    return LinearRegression().fit(X, y)


def healthy_regressor(seed: int = 1):
    from sklearn.linear_model import Ridge

    X, _, y = training_data(seed)
    return Ridge(alpha=0.1).fit(X, y)


# -- the cases ----------------------------------------------------------------------


def _knn_on_too_few_rows():
    """``KNeighborsClassifier(n_neighbors=50)`` fitted on 10 rows: every predict raises ValueError."""
    from sklearn.neighbors import KNeighborsClassifier

    X, y, _ = training_data()
    return KNeighborsClassifier(n_neighbors=50).fit(X[:10], y[:10])


def _step_fitted_on_other_columns():
    """A pipeline assembled from steps fitted apart: the scaler on 4 columns, the classifier on 5.

    Its input schema (from the first step) matches the traffic, so every
    request passes the server's checks and the classifier raises ValueError.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, _ = training_data()
    wider = np.column_stack([X, X[:, 0] * X[:, 1]])
    return Pipeline([("scale", StandardScaler().fit(X)), ("model", LogisticRegression().fit(wider, y))])


def _log_of_a_column_fitted_on_positive_values():
    """``log(x0)`` before the classifier, fitted where x0 > 0: rows with x0 <= 0 raise ValueError (NaN input)."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = training_data()
    X = X.copy()
    X[:, 0] = np.abs(X[:, 0]) + 0.01
    logs = ColumnTransformer([("log", FunctionTransformer(np.log), [0])], remainder="passthrough")
    return Pipeline([("log", logs), ("model", LogisticRegression())]).fit(X, y)


def _inverse_log_target():
    """A regressor trained on ``exp(y)`` and answered through ``log``: NaN wherever the fit goes negative."""
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression

    X, _, y = training_data()
    return TransformedTargetRegressor(
        regressor=LinearRegression(), func=np.exp, inverse_func=np.log, check_inverse=False
    ).fit(X, np.clip(y, -5, 5))


def _constant():
    from sklearn.dummy import DummyClassifier

    X, y, _ = training_data()
    return DummyClassifier(strategy="constant", constant=1).fit(X, y)


def _labels_absent_from_the_baseline():
    """Retrained on a target that was re-encoded ("no"/"yes" instead of 0/1)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y, _ = training_data()
    return LogisticRegression().fit(X, np.where(y == 1, "yes", "no"))


def _other_features():
    """Trained on five features: the traffic's four rows fail the server's schema check (4xx)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y, _ = training_data()
    return LogisticRegression().fit(np.column_stack([X, X[:, 0] ** 2]), y)


class _Wrapper(BaseEstimator):
    """Around an already fitted scikit-learn ``inner``, so it counts as fitted too."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        if inner is not None:
            self.n_features_in_ = inner.n_features_in_
            if hasattr(inner, "classes_"):
                self.classes_ = inner.classes_


class DropsRows(_Wrapper):
    """Answers one prediction fewer than it was given rows (a de-duplicating post-processor gone wrong)."""

    _estimator_type = "classifier"

    def predict(self, X):
        return self.inner.predict(X)[1:]


class Slow(_Wrapper):
    """Sleeps ``delay_s`` per predict call: the same answers, about ten times later."""

    _estimator_type = "classifier"

    def __init__(self, inner: Any = None, delay_s: float = SLOW_DELAY_S) -> None:
        super().__init__(inner)
        self.delay_s = delay_s

    def predict(self, X):
        time.sleep(self.delay_s)
        return self.inner.predict(X)


class ExitsOnPredict(_Wrapper):
    """Ends its process on predict (as a segfaulting native extension or the OOM killer would).

    Not the process that built it, though: packaging calls ``predict`` to check
    the model, and the test that builds it must live on.
    """

    _estimator_type = "classifier"

    def __init__(self, inner: Any = None, built_by: int | None = None) -> None:
        super().__init__(inner)
        self.built_by = os.getpid() if built_by is None else built_by

    def predict(self, X):
        if os.getpid() != self.built_by:
            os._exit(13)
        return self.inner.predict(X)


def _refuse_to_load(reason: str):
    raise RuntimeError(reason)


class Unloadable(_Wrapper):
    """Pickles fine, never unpickles: a package whose model cannot be loaded where it is served."""

    _estimator_type = "classifier"

    def predict(self, X):
        return self.inner.predict(X)

    def __reduce__(self):
        return _refuse_to_load, ("this model cannot be loaded (cloudeploy.testing.zoo.Unloadable)",)


@dataclass(frozen=True)
class ZooCase:
    """One failure: how to build it and which gate must stop it.

    ``kind`` is the baseline it replaces (``classifier`` or ``regressor``);
    ``trust`` says the model holds a class of this module; ``caught_by`` names
    the gate expected to break (``deploy`` when the provider must refuse the
    version before any traffic moves).
    """

    name: str
    description: str
    build: Callable[[], Any]
    caught_by: str
    kind: str = "classifier"
    trust: bool = False


CASES: tuple[ZooCase, ...] = (
    ZooCase("raises_every_row", "KNeighborsClassifier(n_neighbors=50) fitted on 10 rows: ValueError on every row",
            _knn_on_too_few_rows, "error_rate"),
    ZooCase("step_fitted_on_other_columns", "a pipeline step fitted on other columns: ValueError on every row",
            _step_fitted_on_other_columns, "error_rate"),
    ZooCase("raises_some_rows", "log(x0) fitted on positive x0: ValueError on about half the rows",
            _log_of_a_column_fitted_on_positive_values, "error_rate"),
    ZooCase("returns_nan", "TransformedTargetRegressor answering through log: NaN on some rows",
            _inverse_log_target, "non_finite", kind="regressor"),
    ZooCase("returns_constant", "DummyClassifier(strategy='constant'): the same label for every row",
            _constant, "prediction_shift"),
    ZooCase("wrong_row_count", "one prediction fewer than rows", lambda: DropsRows(baseline_classifier(2)),
            "error_rate", trust=True),
    ZooCase("ten_times_slower", f"sleeps {SLOW_DELAY_S * 1000:g} ms per predict call",
            lambda: Slow(baseline_classifier(3)), "p50_ratio", trust=True),
    ZooCase("kills_its_process", "os._exit on predict", lambda: ExitsOnPredict(baseline_classifier(4)),
            "error_rate", trust=True),
    ZooCase("cannot_be_loaded", "a pickle that raises when it is loaded",
            lambda: Unloadable(baseline_classifier(5)), "deploy", trust=True),
    ZooCase("other_features", "trained on five features; the traffic has four: 4xx from the server's checks",
            _other_features, "input_error_rate"),
    ZooCase("labels_absent_from_baseline", "predicts 'no'/'yes' where the baseline predicts 0/1",
            _labels_absent_from_the_baseline, "prediction_shift"),
)


def case(name: str) -> ZooCase:
    """The case called ``name``."""
    for item in CASES:
        if item.name == name:
            return item
    raise KeyError(f"no zoo case {name!r} (cases: {', '.join(c.name for c in CASES)})")
