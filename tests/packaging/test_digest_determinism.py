"""The same model packaged twice is the same package: identical files, identical digest.

The digest is how a re-run deploy converges on the same version; any random
byte in a package (an ONNX graph's uuid name, a timestamp) breaks that.
"""

from __future__ import annotations

import joblib
from sklearn.compose import make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cloudeploy.packaging import build_package
from cloudeploy.packaging.manifest import read_manifest


def _package_twice(model, tmp_path, **kwargs):
    source = tmp_path / "model.joblib"
    joblib.dump(model, source)
    first = build_package(source, tmp_path / "a", name="m", **kwargs)
    second = build_package(source, tmp_path / "b", name="m", **kwargs)
    return read_manifest(first.path), read_manifest(second.path)


def test_a_linear_model_packages_to_the_same_digest(tmp_path):
    model = LogisticRegression().fit([[0, 1], [1, 0], [1, 1], [0, 0]], [0, 1, 1, 0])
    first, second = _package_twice(model, tmp_path)
    assert first.files == second.files
    assert first.digest == second.digest


def test_a_pipeline_with_a_categorical_column_packages_to_the_same_digest(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0] * 5, "city": ["a", "b", "c", "a"] * 5})
    model = make_pipeline(
        make_column_transformer((StandardScaler(), ["size"]), (OneHotEncoder(), ["city"])),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ).fit(frame, [0, 1, 1, 0] * 5)
    first, second = _package_twice(model, tmp_path, baseline=frame)
    assert first.files == second.files
    assert first.digest == second.digest
