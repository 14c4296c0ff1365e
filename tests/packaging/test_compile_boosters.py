"""XGBoost and LightGBM: packaged in their own file formats (never pickled), compiled, served both ways."""

from __future__ import annotations

import numpy as np
import pytest

from cloudeploy.packaging import build_package, load_package


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


def test_xgboost_estimator_is_saved_natively_and_both_runtimes_answer_like_it(cancer, tmp_path):
    from xgboost import XGBClassifier

    X, y = cancer
    model = XGBClassifier(n_estimators=25, max_depth=3).fit(X, y)
    package = build_package(model, tmp_path / "pkg", baseline=X)
    assert package.manifest.format == "xgboost"
    assert {"model.json", "model.onnx"} <= set(package.manifest.files)
    assert not any(name.endswith((".joblib", ".pkl")) for name in package.manifest.files)  # nothing pickled
    assert "xgboost" in package.manifest.frameworks
    expected = model.predict(X).tolist()
    compiled = load_package(package.path)
    native = load_package(package.path, runtime="sklearn")
    assert (compiled.runtime, native.runtime) == ("onnx", "xgboost")
    assert compiled.predict(X.tolist()) == expected
    assert native.predict(X.tolist()) == expected


def test_native_xgboost_regressor_file_packages_and_compiles(cancer, tmp_path):
    from xgboost import XGBRegressor

    X, y = cancer
    target = X[:, 0] * 3.0 + y
    model = XGBRegressor(n_estimators=30, max_depth=4).fit(X, target)
    model.get_booster().save_model(str(tmp_path / "booster.json"))
    package = build_package(tmp_path / "booster.json", tmp_path / "pkg")
    assert (package.manifest.format, package.manifest.output_kind) == ("xgboost", "regression")
    assert package.manifest.runtime == "onnx"
    predictions = np.asarray(load_package(package.path).predict(X.tolist()))
    tolerance = package.manifest.compiled["verification"]["tolerance"]
    expected = model.predict(X)
    assert np.max(np.abs(predictions - expected)) / max(1.0, np.abs(expected).max()) <= tolerance
    assert load_package(package.path, runtime="sklearn").predict(X[:5].tolist()) == pytest.approx(expected[:5].tolist())


def test_lightgbm_with_string_labels_keeps_them_through_both_runtimes(cancer, tmp_path):
    from lightgbm import LGBMClassifier

    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant")
    model = LGBMClassifier(n_estimators=25, verbose=-1).fit(X, labels)
    package = build_package(model, tmp_path / "pkg", baseline=X)
    assert package.manifest.format == "lightgbm"
    assert package.manifest.classes == ["benign", "malignant"]
    expected = model.predict(X).tolist()
    for runtime in (None, "sklearn"):
        predictions = load_package(package.path, runtime=runtime).predict(X.tolist())
        assert predictions == expected
        assert all(type(p) is str for p in predictions)


def test_native_lightgbm_text_file_packages_and_compiles(cancer, tmp_path):
    from lightgbm import LGBMClassifier

    X, y = cancer
    model = LGBMClassifier(n_estimators=25, verbose=-1).fit(X, y)
    model.booster_.save_model(str(tmp_path / "model.txt"))
    package = build_package(tmp_path / "model.txt", tmp_path / "pkg", baseline=X)
    assert (package.manifest.format, package.manifest.output_kind) == ("lightgbm", "class_labels")
    assert package.manifest.runtime == "onnx", package.manifest.compiled
    assert load_package(package.path).predict(X.tolist()) == model.predict(X).tolist()
    assert load_package(package.path, runtime="sklearn").predict(X.tolist()) == model.predict(X).tolist()


def test_a_text_file_that_is_not_a_lightgbm_model_is_refused_in_one_line(tmp_path):
    from cloudeploy.errors import ValidationError

    (tmp_path / "notes.txt").write_text("not a model\n")
    with pytest.raises(ValidationError, match="LightGBM text model"):
        build_package(tmp_path / "notes.txt", tmp_path / "pkg")
