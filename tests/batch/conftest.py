"""Fixtures for batch prediction: fitted models, their packages, input rows, an isolated home."""

from __future__ import annotations

import numpy as np
import pytest

from tests.batch.helpers import FEATURES, N_FEATURES


@pytest.fixture(scope="session")
def training_data():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, N_FEATURES))
    labels = (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int)
    return features, labels


@pytest.fixture(scope="session")
def forest(training_data):
    """A classifier fitted on a plain array: its schema is positional (x0..x4)."""
    from sklearn.ensemble import RandomForestClassifier

    features, labels = training_data
    return RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0).fit(features, labels)


@pytest.fixture(scope="session")
def forest_package(forest, tmp_path_factory):
    from cloudeploy.packaging import build_package

    return build_package(forest, tmp_path_factory.mktemp("forest") / "package", name="forest").path


@pytest.fixture(scope="session")
def regressor_package(training_data, tmp_path_factory):
    """A regressor fitted on named columns f0..f4 (a named schema, float predictions)."""
    import pandas as pd
    from sklearn.ensemble import GradientBoostingRegressor

    from cloudeploy.packaging import build_package

    features, labels = training_data
    frame = pd.DataFrame(features, columns=FEATURES)
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(frame, features[:, 0] * 3 + labels)
    package = build_package(model, tmp_path_factory.mktemp("regressor") / "package", name="regressor")
    return package.path, model


@pytest.fixture(scope="session")
def slow_package(training_data, tmp_path_factory):
    """A forest slow enough per predict call that a job of many small chunks takes seconds."""
    from sklearn.ensemble import RandomForestClassifier

    from cloudeploy.packaging import build_package

    features, labels = training_data
    model = RandomForestClassifier(n_estimators=250, max_depth=3, random_state=0).fit(features, labels)
    return build_package(model, tmp_path_factory.mktemp("slow") / "package", name="slow").path


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in a fresh directory with its own CLOUDEPLOY_HOME and no cloudeploy.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.delenv("CLOUDEPLOY_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def rows():
    """``rows(n, seed=1)`` -> a DataFrame with an ``id`` column and features f0..f4."""

    def make(n: int, seed: int = 1):
        import pandas as pd

        rng = np.random.default_rng(seed)
        frame = pd.DataFrame(rng.normal(size=(n, N_FEATURES)), columns=FEATURES)
        frame.insert(0, "id", [f"id-{seed}-{i:06d}" for i in range(n)])
        return frame

    return make
