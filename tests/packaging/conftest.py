"""Fitted models and files shared by the packaging tests (small, so the folder stays fast)."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def training_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    return X, y


@pytest.fixture(scope="session")
def classifier(training_data):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data
    return LogisticRegression().fit(X, y)


@pytest.fixture(scope="session")
def forest(training_data):
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def regressor(training_data):
    from sklearn.linear_model import Ridge

    X, y = training_data
    return Ridge().fit(X, y * 2.5 + 1)


@pytest.fixture(scope="session")
def frame():
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame(
        {
            "area": rng.uniform(20, 200, n),
            "city": rng.choice(["Berlin", "Paris", "Rome"], n),
            "rooms": rng.integers(1, 6, n),
            "age": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 80, n)),
        }
    )


@pytest.fixture(scope="session")
def frame_pipeline(frame):
    """A DataFrame pipeline: text categories, integer categories, an imputed column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    y = (frame["area"] > 100).astype(int)
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["city", "rooms"]),
            ("age", make_pipeline(SimpleImputer(), StandardScaler()), ["age"]),
        ],
        remainder="passthrough",
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=500))]).fit(
        frame, y
    )


@pytest.fixture
def custom_model_module(tmp_path, monkeypatch):
    """An importable module with a harmless model class outside the allowlist."""
    name = "cloudeploy_test_custom_models"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            class ConstantModel:
                n_features_in_ = 3
                classes_ = [7]

                def predict(self, X):
                    import numpy as np

                    return np.full(len(X), 7)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)
