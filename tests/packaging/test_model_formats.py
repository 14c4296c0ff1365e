"""skops files load with an explicit trusted-type list; ONNX runs on onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from cloudeploy.errors import UnsafeModelError
from cloudeploy.packaging import build_package, load_package


@pytest.fixture
def skops_forest(forest, tmp_path):
    import skops.io as sio

    path = tmp_path / "forest.skops"
    sio.dump(forest, path)
    return path


def test_skops_tree_model_packages_and_predicts(skops_forest, forest, training_data, tmp_path):
    X, _ = training_data
    package = build_package(skops_forest, tmp_path / "pkg")
    assert (package.manifest.format, package.manifest.model_file) == ("skops", "model.skops")
    assert "skops" in package.manifest.frameworks
    loaded = load_package(package.path)
    assert loaded.predict(X[:5].tolist()) == forest.predict(X[:5]).tolist()


def test_skops_types_are_checked_against_the_allowlist(skops_forest):
    import skops.io as sio

    from cloudeploy.packaging.allowlist import Allowlist
    from cloudeploy.packaging.skops_format import trusted_types

    untrusted = sio.get_untrusted_types(file=skops_forest)
    assert "sklearn.tree._tree.Tree" in untrusted
    assert trusted_types(skops_forest, trust=False, allowlist=Allowlist()) == untrusted


def test_skops_file_with_a_custom_type_is_refused_naming_it(tmp_path, custom_model_module):
    import skops.io as sio

    path = tmp_path / "custom.skops"
    sio.dump(custom_model_module.ConstantModel(), path)
    with pytest.raises(UnsafeModelError) as refused:
        build_package(path, tmp_path / "pkg")
    assert refused.value.globals == ["cloudeploy_test_custom_models.ConstantModel"]


def test_skops_custom_type_loads_when_allowed(tmp_path, custom_model_module):
    import skops.io as sio

    path = tmp_path / "custom.skops"
    sio.dump(custom_model_module.ConstantModel(), path)
    allowed = ["cloudeploy_test_custom_models.ConstantModel"]
    package = build_package(path, tmp_path / "pkg", allowed_globals=allowed)
    assert load_package(package.path, allowed_globals=allowed).predict([[0.0, 0.0, 0.0]]) == [7]


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, training_data):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = training_data
    model = LogisticRegression().fit(X, y)
    path = tmp_path_factory.mktemp("onnx") / "logistic.onnx"
    path.write_bytes(to_onnx(model, X[:1].astype(np.float32)).SerializeToString())
    return path, model


def test_onnx_classifier_is_described_from_its_graph(onnx_file, tmp_path):
    path, model = onnx_file
    manifest = build_package(path, tmp_path / "pkg").manifest
    assert (manifest.format, manifest.model_file) == ("onnx", "model.onnx")
    assert manifest.output_kind == "class_labels"
    assert manifest.classes == model.classes_.tolist()
    assert len(manifest.schema) == model.n_features_in_
    assert "onnxruntime" in manifest.frameworks


def test_onnx_labels_match_scikit_learn(onnx_file, training_data, tmp_path):
    path, model = onnx_file
    X, _ = training_data
    loaded = load_package(build_package(path, tmp_path / "pkg").path)
    assert loaded.predict(X[:10].tolist()) == model.predict(X[:10]).tolist()


def test_onnx_probabilities_match_scikit_learn(onnx_file, training_data, tmp_path):
    path, model = onnx_file
    X, _ = training_data
    loaded = load_package(build_package(path, tmp_path / "pkg", output_kind="probabilities").path)
    np.testing.assert_allclose(
        loaded.predict(X[:10].tolist()), model.predict_proba(X[:10]), atol=1e-5
    )


def test_onnx_regressor_returns_floats(training_data, tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = training_data
    model = LinearRegression().fit(X, y * 3.0)
    path = tmp_path / "linear.onnx"
    path.write_bytes(to_onnx(model, X[:1].astype(np.float32)).SerializeToString())
    loaded = load_package(build_package(path, tmp_path / "pkg").path)
    assert loaded.manifest.output_kind == "regression"
    np.testing.assert_allclose(
        loaded.predict(X[:5].tolist()), model.predict(X[:5]), rtol=1e-4, atol=1e-4
    )


def test_missing_onnxruntime_names_the_extra(onnx_file, tmp_path, monkeypatch):
    import sys

    from cloudeploy.errors import ProviderUnavailable

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ProviderUnavailable, match=r"cloudeploy\[onnx\]"):
        build_package(onnx_file[0], tmp_path / "pkg")
