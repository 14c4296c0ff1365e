"""XGBoost and LightGBM packages deployed by the Vertex AI provider, through the emulator.

Vertex AI's prebuilt XGBoost images go up to 2.1: a package saved with XGBoost
2.1 gets ``xgboost-cpu.2-1`` with the model staged as ``model.bst`` and answers
what that image answers (the booster's class probabilities); one saved with the
installed 3.2 has no prebuilt image and gets the cloudeploy serving image, as
LightGBM always does (no prebuilt LightGBM image). ``status`` says which
container and runtime answer each version.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.vertex import VertexProvider
from cloudeploy.types import Scaling


@pytest.fixture(scope="module")
def provider(vertex_emulator_session):
    vertex_emulator_session.reset()
    settings = vertex_emulator_session.profile_settings()
    return VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :5], y


@pytest.fixture(scope="module")
def classifier(data):
    import xgboost

    return xgboost.XGBClassifier(n_estimators=6, max_depth=3).fit(*data)


def _deploy(provider, package_dir):
    name = f"boost-{uuid.uuid4().hex[:6]}"
    version = provider.upload_model(package_dir, name)
    provider.create_endpoint(name, model=name)
    provider.deploy(name, version, scaling=Scaling(1, 1))
    return name, version


def _saved_with_xgboost(package_dir, version: str):
    """The package as XGBoost ``version`` would have recorded it (the digest does not cover versions)."""
    path = package_dir / "cloudeploy.json"
    manifest = json.loads(path.read_text())
    manifest["frameworks"]["xgboost"] = version
    path.write_text(json.dumps(manifest))
    return package_dir


@pytest.fixture(scope="module")
def prebuilt_endpoint(provider, classifier, tmp_path_factory):
    from cloudeploy.packaging import build_package

    package = build_package(classifier, tmp_path_factory.mktemp("xgb") / "package").path
    return _deploy(provider, _saved_with_xgboost(package, "2.1.4"))


def test_an_xgboost_2_1_package_gets_the_prebuilt_image_and_model_bst(provider, prebuilt_endpoint):
    from cloudeploy.providers.vertex import mapping

    name, version = prebuilt_endpoint
    model = provider.clients.models.get_model(name=version.provider_id)
    assert model.container_spec.image_uri.endswith("/vertex-ai/prediction/xgboost-cpu.2-1:latest")
    assert dict(model.labels)[mapping.FORMAT_LABEL] == "xgboost"
    assert "model.bst" in {uri.rsplit("/", 1)[-1] for uri in _artifact_files(provider, model.artifact_uri)}


def _artifact_files(provider, artifact_uri: str) -> list[str]:
    from cloudeploy.testing.vertex.storage import Bucketeer

    emulator_storage = provider.settings.storage_endpoint
    return Bucketeer(emulator_storage, provider.settings.project).list(artifact_uri)


def test_predict_answers_the_boosters_probabilities(provider, prebuilt_endpoint, classifier, data):
    import xgboost

    name, _ = prebuilt_endpoint
    rows = data[0][:6]
    answers = provider.predict(name, rows.tolist()).predictions
    assert np.allclose(answers, classifier.get_booster().predict(xgboost.DMatrix(rows)), atol=1e-6)


def test_status_names_the_prebuilt_xgboost_image(provider, prebuilt_endpoint):
    name, _ = prebuilt_endpoint
    (deployment,) = provider.get_endpoint(name).deployments
    assert deployment.runtime == "xgboost (xgboost-cpu.2-1)"


def test_a_newer_xgboost_gets_the_serving_image_and_answers_labels(provider, classifier, data, tmp_path):
    from cloudeploy.packaging import build_package

    package = build_package(classifier, tmp_path / "package")
    name, version = _deploy(provider, package.path)
    model = provider.clients.models.get_model(name=version.provider_id)
    assert model.container_spec.image_uri == provider.settings.serving_image
    rows = data[0][:6]
    assert provider.predict(name, rows.tolist()).predictions == classifier.predict(rows).tolist()
    (deployment,) = provider.get_endpoint(name).deployments
    assert deployment.runtime == f"{package.manifest.runtime} (cloudeploy serving image)"


def test_lightgbm_is_served_by_the_serving_image(provider, data, tmp_path):
    import lightgbm

    from cloudeploy.packaging import build_package

    X, y = data
    model = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1).fit(X, y)
    name, version = _deploy(provider, build_package(model, tmp_path / "package").path)
    registered = provider.clients.models.get_model(name=version.provider_id)
    assert registered.container_spec.image_uri == provider.settings.serving_image
    assert provider.predict(name, X[:6].tolist()).predictions == model.predict(X[:6]).tolist()


def test_batch_prediction_runs_in_the_prebuilt_xgboost_image(provider, classifier, data, tmp_path):
    import pandas as pd
    import xgboost

    from cloudeploy import batch_predict
    from cloudeploy.packaging import build_package

    X = data[0][:40]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "in.csv", index=False)
    package = build_package(classifier, tmp_path / "package", name=f"batch-{uuid.uuid4().hex[:6]}")
    _saved_with_xgboost(package.path, "2.1.4")
    job = batch_predict(str(package.path), str(tmp_path / "in.csv"), str(tmp_path / "out.csv"),
                        id_column="id", provider=provider, timeout=300)  # fmt: skip
    assert job.status().state == "succeeded"
    out = pd.read_csv(job.outputs()[0])
    assert out["id"].tolist() == frame["id"].tolist()
    expected = classifier.get_booster().predict(xgboost.DMatrix(X))
    assert np.allclose(out["prediction"], expected, atol=1e-6)
