"""The prebuilt XGBoost prediction images, as the official samples use them.

Samples: GoogleCloudPlatform/vertex-ai-samples custom-training notebooks that
save ``model.bst`` with ``Booster.save_model`` and upload it with
``xgboost-cpu.M-m``. Checked against the images' predictor
(``sk_xg_prediction_lib`` / ``aiplatform.prediction.xgboost.predictor``): the
image loads ``model.joblib`` / ``model.pkl``, else ``model.bst``, and answers
``booster.predict(xgboost.DMatrix(instances))``: class probabilities for a
classifier, equal to the local booster's; the upload is refused when the folder
holds none of those files.
"""

from __future__ import annotations

import io

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import BUCKET, instances, training_data

XGBOOST_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest"


@pytest.fixture(scope="module")
def classifier():
    import xgboost

    X, y = training_data(0)
    return xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)


def _upload(vertex, folder: str, name: str, data: bytes) -> str:
    vertex.storage().bucket(BUCKET).blob(f"{folder}/{name}").upload_from_string(data)
    return f"{vertex.bucket_uri}/{folder}"


def _booster_bytes(classifier, suffix: str, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("xgb") / f"model{suffix}"
    classifier.get_booster().save_model(str(path))
    return path.read_bytes()


def _deploy(artifact_uri: str, name: str):
    from google.cloud import aiplatform

    model = aiplatform.Model.upload(
        display_name=name, artifact_uri=artifact_uri, serving_container_image_uri=XGBOOST_IMAGE
    )
    endpoint = aiplatform.Endpoint.create(display_name=name)
    endpoint.deploy(model=model, machine_type="n1-standard-4")
    return endpoint


@pytest.fixture(scope="module")
def endpoint(vertex, classifier, tmp_path_factory):
    """``model.bst`` (UBJSON, what ``save_model`` writes without a suffix) on the XGBoost image."""
    uri = _upload(
        vertex, "xgb-bst", "model.bst", _booster_bytes(classifier, ".ubj", tmp_path_factory)
    )
    return _deploy(uri, "xgb-bst")


def test_predict_answers_the_boosters_probabilities(endpoint, classifier):
    import xgboost

    expected = classifier.get_booster().predict(xgboost.DMatrix(instances())).tolist()
    assert endpoint.predict(instances=instances()).predictions == pytest.approx(expected, abs=1e-6)


def test_the_probabilities_give_the_classifiers_labels(endpoint, classifier):
    answers = endpoint.predict(instances=instances()).predictions
    assert [int(p > 0.5) for p in answers] == classifier.predict(instances()).tolist()


def test_a_json_model_bst_serves_too(vertex, classifier, tmp_path_factory):
    import xgboost

    uri = _upload(
        vertex, "xgb-json", "model.bst", _booster_bytes(classifier, ".json", tmp_path_factory)
    )
    endpoint = _deploy(uri, "xgb-json")
    expected = classifier.get_booster().predict(xgboost.DMatrix(instances())).tolist()
    assert endpoint.predict(instances=instances()).predictions == pytest.approx(expected, abs=1e-6)


def test_a_multiclass_booster_answers_one_probability_list_per_row(vertex, tmp_path_factory):
    import numpy as np
    import xgboost

    X, _ = training_data(1)
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    uri = _upload(vertex, "xgb-multi", "model.bst", _booster_bytes(model, ".ubj", tmp_path_factory))
    answers = _deploy(uri, "xgb-multi").predict(instances=instances()).predictions
    assert np.allclose(answers, model.predict_proba(np.array(instances())), atol=1e-6)
    assert all(len(row) == 3 for row in answers)


def test_a_folder_without_a_loadable_file_is_refused_at_upload(vertex):
    from google.cloud import aiplatform

    uri = _upload(vertex, "xgb-none", "model.json", b"{}")
    with pytest.raises(exceptions.BadRequest, match="model.bst"):
        aiplatform.Model.upload(
            display_name="nothing", artifact_uri=uri, serving_container_image_uri=XGBOOST_IMAGE
        )


def test_a_pickled_scikit_learn_api_estimator_fails_at_predict_as_on_the_image(vertex, classifier):
    """The image calls ``model.predict(DMatrix)``; recent xgboost's scikit-learn API refuses a DMatrix."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(classifier, buffer)
    endpoint = _deploy(
        _upload(vertex, "xgb-joblib", "model.joblib", buffer.getvalue()), "xgb-joblib"
    )
    with pytest.raises(exceptions.GoogleAPICallError, match="xgboost prediction"):
        endpoint.predict(instances=instances())
