"""Fixtures for the reliability tests: two packages with different schemas, served as real processes.

- ``numeric``: a LogisticRegression on 4 positional number features (``x0..x3``),
  so schema-valid requests reach the model and get answers;
- ``mixed``: a DataFrame pipeline with a number, a nullable number, a string
  category, an integer category and a boolean, so every coercion path is fuzzed.

Servers run with a small body limit (``BODY_LIMIT``) so that "huge" requests stay
cheap to generate and the 413 path is exercised too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cloudeploy.packaging.schema import InputSchema
from tests.serving.helpers import ServerProcess

BODY_LIMIT = 256 * 1024
#: The values each categorical feature of the ``mixed`` package was fitted on.
CATEGORIES = {
    "numeric": {},
    "mixed": {"city": ["paris", "lyon", "nice"], "rooms": [1, 2, 3, 4], "garden": [True, False]},
}


def _mixed_pipeline():
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "area": rng.normal(80, 20, n),
            "income": rng.normal(50, 10, n),
            "city": rng.choice(CATEGORIES["mixed"]["city"], n),
            "rooms": rng.choice(CATEGORIES["mixed"]["rooms"], n),
            "garden": rng.choice(CATEGORIES["mixed"]["garden"], n),
        }
    )
    frame.loc[::10, "income"] = np.nan
    columns = ColumnTransformer(
        [
            ("scaled", StandardScaler(), ["area"]),
            ("imputed", SimpleImputer(), ["income"]),
            ("categories", OneHotEncoder(), ["city", "rooms", "garden"]),
        ]
    )
    return make_pipeline(columns, LogisticRegression()).fit(frame, (frame.area > 80).astype(int))


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """{"numeric": package dir, "mixed": package dir}."""
    from cloudeploy.packaging import build_package
    from cloudeploy.testing.conformance import fitted_classifier

    root = tmp_path_factory.mktemp("reliability")
    return {
        "numeric": build_package(fitted_classifier(0), root / "numeric", name="numeric").path,
        "mixed": build_package(_mixed_pipeline(), root / "mixed", name="houses").path,
    }


class Servers:
    """Starts each package's server on first use and stops them all at the end."""

    def __init__(self, packages) -> None:
        self.packages = packages
        self.running: dict[str, ServerProcess] = {}

    def __getitem__(self, kind: str) -> ServerProcess:
        if kind not in self.running:
            server = ServerProcess([str(self.packages[kind]), "--port", "0", "--max-body-bytes", str(BODY_LIMIT)])
            self.running[kind] = server
            server.wait_ready()
        return self.running[kind]

    def stop(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="session")
def servers(packages):
    """``servers["numeric" | "mixed"]`` -> a running ServerProcess (one per package per session)."""
    running = Servers(packages)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["numeric", "mixed"])
def served(request, servers):
    """(kind, ServerProcess) for each package in turn."""
    return request.param, servers[request.param]


@pytest.fixture
def target(served, packages):
    """The served package as a fuzzing target: its URL, input schema and fitted categories."""
    from cloudeploy.packaging import read_manifest

    kind, server = served
    return Target(server.url, read_manifest(packages[kind]).schema, CATEGORIES[kind])


@dataclass(frozen=True)
class Target:
    url: str
    schema: InputSchema
    categories: dict
