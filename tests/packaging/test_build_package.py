"""build_package: what a package holds and how the output directory is treated."""

from __future__ import annotations

import json
from datetime import datetime

import joblib
import pytest

from cloudeploy.errors import ConflictError, NotFoundError, PackageError, ValidationError
from cloudeploy.packaging import MANIFEST_NAME, build_package, read_manifest, sha256_file
from cloudeploy.packaging.versions import installed_version


def test_estimator_is_saved_as_model_joblib_with_its_digest(classifier, tmp_path):
    package = build_package(classifier, tmp_path / "pkg")
    assert sorted(p.name for p in package.path.iterdir()) == [MANIFEST_NAME, "model.joblib", "model.onnx"]
    assert package.manifest.files == {
        name: sha256_file(package.path / name) for name in ("model.joblib", "model.onnx")
    }
    assert package.manifest.format == "joblib"


def test_manifest_on_disk_matches_the_returned_manifest(classifier, tmp_path):
    package = build_package(classifier, tmp_path / "pkg")
    assert read_manifest(package.path) == package.manifest


def test_manifest_records_framework_and_python_versions(classifier, tmp_path):
    import platform

    manifest = build_package(classifier, tmp_path / "pkg").manifest
    for name in ("scikit-learn", "numpy", "scipy", "joblib"):
        assert manifest.frameworks[name] == installed_version(name)
    assert manifest.python_version == platform.python_version()


def test_created_at_is_iso_8601_utc(classifier, tmp_path):
    manifest = build_package(classifier, tmp_path / "pkg").manifest
    assert datetime.fromisoformat(manifest.created_at).utcoffset().total_seconds() == 0


def test_classifier_records_class_labels_and_its_classes(classifier, tmp_path):
    manifest = build_package(classifier, tmp_path / "pkg").manifest
    assert manifest.output_kind == "class_labels"
    assert manifest.classes == classifier.classes_.tolist()


def test_regressor_records_regression_without_classes(regressor, tmp_path):
    manifest = build_package(regressor, tmp_path / "pkg").manifest
    assert manifest.output_kind == "regression"
    assert manifest.classes is None


def test_probabilities_can_be_requested_for_a_classifier(classifier, tmp_path):
    assert (
        build_package(
            classifier, tmp_path / "pkg", output_kind="probabilities"
        ).manifest.output_kind
        == "probabilities"
    )


def test_probabilities_are_refused_for_a_model_without_predict_proba(regressor, tmp_path):
    with pytest.raises(ValidationError, match="predict_proba"):
        build_package(regressor, tmp_path / "pkg", output_kind="probabilities")


def test_unknown_output_kind_is_refused_by_name(classifier, tmp_path):
    with pytest.raises(ValidationError, match="'labels'"):
        build_package(classifier, tmp_path / "pkg", output_kind="labels")


def test_same_estimator_packaged_twice_has_the_same_digest(forest, tmp_path):
    first = build_package(forest, tmp_path / "one")
    second = build_package(forest, tmp_path / "two")
    assert first.manifest.digest == second.manifest.digest
    assert (first.path / "model.joblib").read_bytes() == (second.path / "model.joblib").read_bytes()


def test_different_estimators_have_different_digests(classifier, forest, tmp_path):
    assert (
        build_package(classifier, tmp_path / "a").digest
        != build_package(forest, tmp_path / "b").digest
    )


def test_unfitted_estimator_is_refused(tmp_path):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(PackageError, match="not fitted"):
        build_package(LogisticRegression(), tmp_path / "pkg")


def test_object_without_predict_is_refused(tmp_path):
    with pytest.raises(PackageError, match="predict"):
        build_package({"not": "a model"}, tmp_path / "pkg")


def test_joblib_file_is_packaged_under_its_own_format(classifier, tmp_path):
    source = tmp_path / "house.joblib"
    joblib.dump(classifier, source)
    package = build_package(source, tmp_path / "pkg")
    assert package.manifest.model_file == "model.joblib"
    assert package.manifest.name == "house"
    assert (package.path / "model.joblib").read_bytes() == source.read_bytes()


def test_plain_pickle_file_is_packaged_as_model_pkl(classifier, tmp_path):
    import pickle

    source = tmp_path / "house.pkl"
    source.write_bytes(pickle.dumps(classifier))
    manifest = build_package(source, tmp_path / "pkg").manifest
    assert (manifest.format, manifest.model_file) == ("pickle", "model.pkl")


def test_joblib_written_pkl_file_is_recognised_as_joblib(forest, tmp_path):
    source = tmp_path / "forest.pkl"
    joblib.dump(forest, source, compress=3)
    manifest = build_package(source, tmp_path / "pkg").manifest
    assert (manifest.format, manifest.model_file) == ("joblib", "model.joblib")


def test_missing_model_file_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="nope.joblib"):
        build_package(tmp_path / "nope.joblib", tmp_path / "pkg")


def test_unsupported_file_type_is_refused_by_suffix(tmp_path):
    source = tmp_path / "model.h5"
    source.write_bytes(b"\x89HDF")
    with pytest.raises(ValidationError, match=r"\.h5"):
        build_package(source, tmp_path / "pkg")


def test_name_defaults_to_the_output_directory_for_estimators(classifier, tmp_path):
    assert build_package(classifier, tmp_path / "house-price").manifest.name == "house-price"


def test_explicit_name_is_recorded(classifier, tmp_path):
    assert build_package(classifier, tmp_path / "pkg", name="churn.v2").manifest.name == "churn.v2"


def test_invalid_name_is_refused(classifier, tmp_path):
    with pytest.raises(ValidationError, match="invalid package name"):
        build_package(classifier, tmp_path / "pkg", name="../escape")


def test_non_empty_output_directory_is_refused(classifier, tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ConflictError, match="not empty"):
        build_package(classifier, target)
    assert (target / "notes.txt").read_text() == "keep me"


def test_overwrite_replaces_an_existing_package(classifier, forest, tmp_path):
    target = tmp_path / "pkg"
    build_package(classifier, target)
    replaced = build_package(forest, target, overwrite=True)
    assert read_manifest(target).digest == replaced.digest
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, "model.joblib", "model.onnx"]


def test_overwrite_never_empties_a_directory_that_is_not_a_package(classifier, tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ConflictError, match="holds no cloudeploy.json"):
        build_package(classifier, target, overwrite=True)
    assert (target / "notes.txt").exists()


def test_empty_output_directory_is_used(classifier, tmp_path):
    target = tmp_path / "pkg"
    target.mkdir()
    assert build_package(classifier, target).path == target


def test_failed_build_leaves_no_directory_behind(tmp_path):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(PackageError):
        build_package(LogisticRegression(), tmp_path / "pkg")
    assert list(tmp_path.iterdir()) == []


def test_ready_baseline_dict_is_stored_as_is(classifier, tmp_path):
    baseline = {"format": "custom", "features": [{"name": "x0", "mean": 1.5}]}
    package = build_package(classifier, tmp_path / "pkg", baseline=baseline)
    assert json.loads((package.path / MANIFEST_NAME).read_text())["baseline"] == baseline


def test_training_data_baseline_is_computed_per_feature(classifier, training_data, tmp_path):
    from cloudeploy.monitoring.baseline import compute_baseline

    X, _ = training_data
    package = build_package(classifier, tmp_path / "pkg", baseline=X)
    assert package.manifest.baseline == compute_baseline(X, package.manifest.schema)


def test_baseline_is_empty_by_default(classifier, tmp_path):
    assert build_package(classifier, tmp_path / "pkg").manifest.baseline is None


def test_missing_baseline_module_is_a_clear_error_only_with_data(
    classifier, training_data, tmp_path, monkeypatch
):
    import sys

    monkeypatch.setitem(sys.modules, "cloudeploy.monitoring.baseline", None)
    build_package(classifier, tmp_path / "without", baseline={"ready": True})
    with pytest.raises(PackageError, match="cloudeploy.monitoring.baseline"):
        build_package(classifier, tmp_path / "with", baseline=training_data[0])


def test_package_directory_is_verified_and_copied(classifier, tmp_path):
    original = build_package(classifier, tmp_path / "original")
    copy = build_package(original.path, tmp_path / "copy", name="renamed")
    assert copy.digest == original.digest
    assert copy.manifest.name == "renamed"
    assert (copy.path / "model.joblib").read_bytes() == (
        original.path / "model.joblib"
    ).read_bytes()


def test_tampered_package_directory_is_not_copied(classifier, tmp_path):
    from cloudeploy.errors import IntegrityError

    original = build_package(classifier, tmp_path / "original")
    with (original.path / "model.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IntegrityError, match="model.joblib"):
        build_package(original.path, tmp_path / "copy")


def test_estimator_that_cannot_be_pickled_is_a_package_error(training_data, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = training_data
    model = make_pipeline(FunctionTransformer(lambda data: data * 2), LogisticRegression()).fit(
        X, y
    )
    with pytest.raises(PackageError, match="cannot save Pipeline"):
        build_package(model, tmp_path / "pkg")


def test_estimator_referencing_a_function_outside_the_allowlist_is_refused(training_data, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from cloudeploy.errors import UnsafeModelError

    X, y = training_data
    model = make_pipeline(FunctionTransformer(json.dumps, validate=False), LogisticRegression())
    model.steps[1] = ("model", LogisticRegression().fit(X, y))
    model.steps[0][1].fit(X)
    with pytest.raises(UnsafeModelError) as refused:
        build_package(model, tmp_path / "pkg")
    assert refused.value.globals == ["json.dumps"]


def test_same_model_with_another_baseline_is_another_package(classifier, training_data, tmp_path):
    X, _ = training_data
    plain = build_package(classifier, tmp_path / "plain")
    first = build_package(classifier, tmp_path / "first", baseline=X)
    again = build_package(classifier, tmp_path / "again", baseline=X)
    shifted = build_package(classifier, tmp_path / "shifted", baseline=X + 1.0)
    assert first.digest == again.digest
    assert len({plain.digest, first.digest, shifted.digest}) == 3
