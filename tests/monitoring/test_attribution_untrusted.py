"""Attribution drift for a model file that was never trusted: explained through its compiled graph.

An untrusted pickle is opened only in the packaging sandbox, so the packaging
process has no model object to explain; before, such a package had no
attributions. Now the verified ONNX graph (which answers like the model) is
explained with the sampled method, at package time and at monitoring time, and
nothing is unpickled in either process.
"""

from __future__ import annotations

import pickle

import joblib
import pytest

from cloudeploy.monitoring.artifacts import load_attribution, load_explained_model
from cloudeploy.monitoring.attribution import (
    attribution_drift,
    baseline_attributions,
    serving_attributions,
)


@pytest.fixture(scope="module")
def untrusted_package(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cloudeploy.packaging import build_package

    data = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(data.data, data.target, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    directory = tmp_path_factory.mktemp("untrusted")
    joblib.dump(model, directory / "model.joblib")
    package = build_package(directory / "model.joblib", directory / "package", name="bc", baseline=X_train)
    return package, model, X_train, X_test


def test_the_package_has_attributions_made_from_its_graph(untrusted_package):
    package, _, _, _ = untrusted_package
    assert package.manifest.compiled and package.manifest.compiled.get("file")
    record = load_attribution(package.path, package.manifest.files)
    assert record is not None, "an untrusted model file got no training attributions"
    assert record["explainer"]["runtime"] == "onnx"
    assert record["explainer"]["method"] == "sampled"
    assert record["explainer"]["graph_output"] == "probabilities"


def test_the_graph_explains_like_the_model(untrusted_package):
    package, model, X_train, _ = untrusted_package
    from_graph = load_attribution(package.path, package.manifest.files)["features"]
    from_model = baseline_attributions(model, X_train, list(X_train.columns))["features"]
    for name, summary in from_model.items():
        assert from_graph[name]["share"] == pytest.approx(summary["share"], abs=1e-4), name


def test_monitoring_explains_the_window_without_unpickling(untrusted_package, monkeypatch):
    package, _, X_train, X_test = untrusted_package
    record = load_attribution(package.path, package.manifest.files)

    def refuse(*args, **kwargs):
        raise AssertionError("monitoring unpickled the model")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    explained = load_explained_model(package.path, package.manifest, record)
    names = list(X_train.columns)
    same = attribution_drift(record, serving_attributions(explained, record, {n: X_test[n].to_numpy() for n in names}))
    assert same["breached"] == []
    shifted = X_test.assign(**{"worst texture": X_test["worst texture"] * 3})
    moved = attribution_drift(record, serving_attributions(explained, record,
                                                           {n: shifted[n].to_numpy() for n in names}))
    assert "worst texture" in moved["breached"]
