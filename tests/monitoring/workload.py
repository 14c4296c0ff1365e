"""Training and serving data for the per-provider monitoring tests.

Four numerical features, standard normal in training. Serving data is drawn
from the same distribution, except that the features named in ``shifted``
move by +4 standard deviations: far enough that their Jensen–Shannon
divergence on the baseline's bins is well above 0.3, while an unshifted
sample of a few hundred rows scores well below it.
"""

from __future__ import annotations

import numpy as np

FEATURES = 4
SHIFTED = (1, 3)  # the features a "shifted" stream moves, by index


def training_data(rows: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    y = (X[:, 0] + X[:, 2] > 0).astype(int)
    return X, y


def fitted_model(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data(seed=seed)
    return LogisticRegression().fit(X, y)


def serving_rows(rows: int, *, shifted: tuple[int, ...] = (), seed: int = 1) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, FEATURES))
    for index in shifted:
        X[:, index] += 4.0
    return X.round(5).tolist()


def send(provider, endpoint: str, rows: list[list[float]], *, batch: int = 20) -> list:
    """Predict ``rows`` in batches of ``batch``; returns the predictions."""
    predictions = []
    for start in range(0, len(rows), batch):
        predictions.extend(provider.predict(endpoint, rows[start:start + batch]).predictions)
    return predictions
