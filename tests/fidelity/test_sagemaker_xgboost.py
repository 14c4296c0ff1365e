"""The prebuilt SageMaker XGBoost container ("algorithm mode"), as the samples use it.

Samples: aws/amazon-sagemaker-examples ``introduction_to_amazon_algorithms/
xgboost_abalone`` and "bring your own XGBoost model": ``model.tar.gz`` holding
``xgboost-model`` (``Booster.save_model``), ``create_model`` with the
``sagemaker-xgboost`` image, ``invoke_endpoint`` with ``text/csv``. Checked against
``aws/sagemaker-xgboost-container`` (``algorithm_mode/serve.py``, ``serve_utils.py``):
the answer is ``Booster.predict`` (class probabilities for a classifier), CSV one
value per line by default, ``{"predictions": [{"score": p}]}`` for
``Accept: application/json``; a JSON request is 415; every file at the archive's
root is loaded (a package tarball's ``cloudeploy.json`` is not a model).
"""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.fidelity.conftest import deploy, unique, wait_in_service

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X[:, :6], y


@pytest.fixture(scope="module")
def classifier(data):
    import xgboost

    X, y = data
    return xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(X, y)


def _tarball(files: dict[str, bytes]) -> bytes:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue()


def _upload(bucket: str, files: dict[str, bytes]) -> str:
    import boto3

    key = f"xgboost/{unique('model')}/model.tar.gz"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=_tarball(files))
    return f"s3://{bucket}/{key}"


def _booster_bytes(model, tmp_path_factory, suffix: str = ".ubj") -> bytes:
    path = tmp_path_factory.mktemp("xgb") / f"xgboost-model{suffix}"
    model.get_booster().save_model(str(path))
    return path.read_bytes()


def _csv(rows) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()


@pytest.fixture(scope="module")
def endpoint(sm, role_arn, bucket, classifier, tmp_path_factory):
    url = _upload(bucket, {"xgboost-model": _booster_bytes(classifier, tmp_path_factory)})
    name = deploy(sm, role_arn, url, image=XGBOOST_IMAGE)
    assert wait_in_service(sm, name)["EndpointStatus"] == "InService"
    return name


def _expected(classifier, rows):
    import xgboost

    return classifier.get_booster().predict(xgboost.DMatrix(rows)).tolist()


def test_csv_answers_one_booster_probability_per_line(smr, endpoint, classifier, data):
    rows = data[0][:5]
    answer = smr.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=_csv(rows))
    assert answer["ContentType"] == "text/csv"
    lines = answer["Body"].read().decode().splitlines()
    assert [float(v) for v in lines] == pytest.approx(_expected(classifier, rows), abs=1e-6)
    assert [int(float(v) > 0.5) for v in lines] == classifier.predict(rows).tolist()


def test_json_accept_answers_scores(smr, endpoint, classifier, data):
    rows = data[0][:3]
    answer = smr.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=_csv(rows)
    )
    body = json.loads(answer["Body"].read())
    assert [p["score"] for p in body["predictions"]] == pytest.approx(
        _expected(classifier, rows), abs=1e-6
    )


def test_a_json_request_is_refused_with_415(smr, endpoint, data):
    with pytest.raises(smr.exceptions.ModelError) as raised:
        smr.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Body=json.dumps(data[0][:2].tolist()).encode(),
        )
    assert raised.value.response["OriginalStatusCode"] == 415
    assert "application/json" in raised.value.response["Error"]["Message"]


def test_a_json_booster_and_a_multiclass_model_answer_probabilities(
    sm, smr, role_arn, bucket, data, tmp_path_factory
):
    import numpy as np
    import xgboost

    X, _ = data
    y = np.digitize(X[:, 0], np.quantile(X[:, 0], [0.33, 0.66]))
    model = xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(X, y)
    url = _upload(bucket, {"xgboost-model": _booster_bytes(model, tmp_path_factory, ".json")})
    name = deploy(sm, role_arn, url, image=XGBOOST_IMAGE)
    wait_in_service(sm, name)
    answer = smr.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=_csv(X[:4]))
    rows = [
        [float(v) for v in line.split(",")] for line in answer["Body"].read().decode().splitlines()
    ]
    assert np.allclose(rows, model.predict_proba(X[:4]), atol=1e-6)


def test_a_package_tarball_fails_the_health_check(
    sm, role_arn, bucket, classifier, tmp_path_factory
):
    """Every root file is loaded as a booster: a cloudeploy.json beside the model is not one."""
    url = _upload(
        bucket,
        {"xgboost-model": _booster_bytes(classifier, tmp_path_factory), "cloudeploy.json": b"{}"},
    )
    name = deploy(sm, role_arn, url, image=XGBOOST_IMAGE)
    with pytest.raises(Exception, match="Failed"):
        wait_in_service(sm, name)
    reason = sm.describe_endpoint(EndpointName=name)["FailureReason"]
    assert "cloudeploy.json cannot be loaded" in reason


def test_selectable_inference_output_answers_the_chosen_keys(
    sm, smr, role_arn, bucket, classifier, data, tmp_path_factory
):
    """``SAGEMAKER_INFERENCE_OUTPUT`` in the model's environment: labels and probabilities per row."""
    url = _upload(bucket, {"xgboost-model": _booster_bytes(classifier, tmp_path_factory)})
    model = unique("model")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": url,
            "Environment": {"SAGEMAKER_INFERENCE_OUTPUT": "predicted_label,probability"},
        },
    )
    name = unique("endpoint")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}
        ],
    )  # fmt: skip
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)
    rows = data[0][:4]
    answer = smr.invoke_endpoint(
        EndpointName=name, ContentType="text/csv", Accept="application/json", Body=_csv(rows)
    )
    predictions = json.loads(answer["Body"].read())["predictions"]
    assert [p["predicted_label"] for p in predictions] == classifier.predict(rows).tolist()
    assert [p["probability"] for p in predictions] == pytest.approx(
        _expected(classifier, rows), abs=1e-6
    )
    csv_answer = smr.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=_csv(rows))
    first = csv_answer["Body"].read().decode().splitlines()[0].split(",")
    assert int(first[0]) == classifier.predict(rows[:1])[0]
