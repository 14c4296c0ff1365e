"""load_package and LoadedModel.predict: JSON-ready outputs, thread safety, version checks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cloudeploy.errors import VersionMismatchError
from cloudeploy.packaging import MANIFEST_NAME, build_package, load_package
from cloudeploy.packaging.versions import installed_version


def test_class_labels_are_python_scalars_matching_the_model(classifier, training_data, tmp_path):
    X, _ = training_data
    loaded = load_package(build_package(classifier, tmp_path / "pkg").path)
    predictions = loaded.predict(X[:5].tolist())
    assert predictions == classifier.predict(X[:5]).tolist()
    assert all(type(p) is int for p in predictions)


def test_string_class_labels_come_back_as_strings(training_data, tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data
    labels = np.where(y == 1, "churn", "stay")
    model = DecisionTreeClassifier(random_state=0).fit(X, labels)
    loaded = load_package(build_package(model, tmp_path / "pkg").path)
    assert loaded.predict(X[:4].tolist()) == model.predict(X[:4]).tolist()
    assert loaded.manifest.classes == ["churn", "stay"]


def test_probabilities_are_one_list_per_row(classifier, training_data, tmp_path):
    X, _ = training_data
    loaded = load_package(
        build_package(classifier, tmp_path / "pkg", output_kind="probabilities").path
    )
    predictions = loaded.predict(X[:3].tolist())
    # The compiled graph answers within the tolerance its verification recorded.
    tolerance = loaded.manifest.compiled["verification"]["tolerance"]
    expected = classifier.predict_proba(X[:3]).tolist()
    assert [len(row) for row in predictions] == [len(row) for row in expected]
    assert np.allclose(predictions, expected, rtol=0, atol=tolerance)
    assert load_package(tmp_path / "pkg", runtime="sklearn").predict(X[:3].tolist()) == expected


def test_regression_values_are_floats(regressor, training_data, tmp_path):
    X, _ = training_data
    loaded = load_package(build_package(regressor, tmp_path / "pkg").path)
    predictions = loaded.predict(X[:3].tolist())
    assert predictions == pytest.approx(regressor.predict(X[:3]).tolist())
    assert all(type(p) is float for p in predictions)


def test_ndarray_input_gives_the_same_predictions_as_rows(classifier, training_data, tmp_path):
    X, _ = training_data
    loaded = load_package(build_package(classifier, tmp_path / "pkg").path)
    assert loaded.predict(X[:6]) == loaded.predict(X[:6].tolist())


def test_rows_from_the_schema_feed_a_dataframe_pipeline(frame_pipeline, frame, tmp_path):
    loaded = load_package(build_package(frame_pipeline, tmp_path / "pkg").path)
    instances = frame.head(4).replace({np.nan: None}).to_dict(orient="records")
    rows = loaded.schema.rows(instances)
    assert loaded.predict(rows) == frame_pipeline.predict(frame.head(4)).tolist()


def test_dataframe_input_is_passed_through(frame_pipeline, frame, tmp_path):
    loaded = load_package(build_package(frame_pipeline, tmp_path / "pkg").path)
    assert loaded.predict(frame.head(5)) == frame_pipeline.predict(frame.head(5)).tolist()


def test_raw_model_is_the_estimator(classifier, tmp_path):
    loaded = load_package(build_package(classifier, tmp_path / "pkg").path, runtime="sklearn")
    assert type(loaded.model) is type(classifier)
    np.testing.assert_array_equal(loaded.model.coef_, classifier.coef_)


def test_concurrent_predictions_match_sequential_ones(forest, training_data, tmp_path):
    X, _ = training_data
    loaded = load_package(build_package(forest, tmp_path / "pkg", output_kind="probabilities").path)
    rows = [X[i : i + 1].tolist() for i in range(40)]
    expected = [loaded.predict(r) for r in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(loaded.predict, rows * 5))
    assert results == expected * 5


def _set_manifest_sklearn_version(package_path, version):
    path = package_path / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["frameworks"]["scikit-learn"] = version
    path.write_text(json.dumps(data))  # the manifest is not among the digested files


def test_other_sklearn_version_is_refused_naming_both(classifier, tmp_path):
    package = build_package(classifier, tmp_path / "pkg")
    _set_manifest_sklearn_version(package.path, "0.24.2")
    with pytest.raises(VersionMismatchError) as refused:
        load_package(package.path, runtime="sklearn")  # the compiled graph needs no scikit-learn
    assert "0.24.2" in str(refused.value)
    assert installed_version("scikit-learn") in str(refused.value)


def test_version_mismatch_can_be_allowed(classifier, training_data, tmp_path):
    X, _ = training_data
    package = build_package(classifier, tmp_path / "pkg")
    _set_manifest_sklearn_version(package.path, "0.24.2")
    loaded = load_package(package.path, allow_version_mismatch=True)
    assert loaded.predict(X[:2].tolist()) == classifier.predict(X[:2]).tolist()


def _file_saved_with_sklearn(classifier, path, version):
    """A joblib file whose estimator state records another scikit-learn version."""
    import joblib

    joblib.dump(classifier, path)
    installed = installed_version("scikit-learn").encode()
    assert len(version) == len(installed)  # same length keeps the pickle valid
    path.write_bytes(path.read_bytes().replace(installed, version.encode()))
    return path


def test_file_saved_with_another_sklearn_is_refused_when_packaging(classifier, tmp_path):
    other = "0.0." + "9" * (len(installed_version("scikit-learn")) - 4)
    source = _file_saved_with_sklearn(classifier, tmp_path / "old.joblib", other)
    with pytest.raises(VersionMismatchError, match=f"scikit-learn {other}"):
        build_package(source, tmp_path / "pkg")


def test_packaging_with_allowed_mismatch_records_the_saved_version(classifier, tmp_path):
    other = "0.0." + "9" * (len(installed_version("scikit-learn")) - 4)
    source = _file_saved_with_sklearn(classifier, tmp_path / "old.joblib", other)
    package = build_package(source, tmp_path / "pkg", allow_version_mismatch=True)
    assert package.manifest.sklearn_version == other
    with pytest.raises(VersionMismatchError):
        load_package(package.path, runtime="sklearn")
