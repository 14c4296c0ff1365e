"""XGBoost and LightGBM packages deployed by the SageMaker provider, through the emulation.

An XGBoost package saved with an XGBoost release that has a prebuilt
``sagemaker-xgboost`` image (3.2 here: the installed one) is registered with
that image and an artifact of its own (``xgboost-model`` alone); ``predict``
sends CSV to it and answers what the container answers, the booster's class
probabilities, equal to the local booster's. LightGBM has no prebuilt image: the
cloudeploy serving image answers with the package's labels. ``status`` says
which container and runtime answer each version.
"""

from __future__ import annotations

import io
import tarfile
import uuid

import numpy as np
import pytest

from cloudeploy.config import Profile
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.providers.sagemaker.images import xgboost_image
from cloudeploy.types import Scaling


@pytest.fixture(scope="module")
def provider(sagemaker_emulator_session):
    sagemaker_emulator_session.reset()
    settings = sagemaker_emulator_session.profile_settings()
    return SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))


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


@pytest.fixture(scope="module")
def xgb_endpoint(provider, classifier, tmp_path_factory):
    from cloudeploy.packaging import build_package

    package = build_package(classifier, tmp_path_factory.mktemp("xgb") / "package").path
    return _deploy(provider, package)


def test_an_xgboost_package_is_registered_with_the_matching_prebuilt_image(provider, xgb_endpoint):
    import xgboost

    _, version = xgb_endpoint
    described = provider.clients.sagemaker.describe_model_package(
        ModelPackageName=version.provider_id
    )
    (container,) = described["InferenceSpecification"]["Containers"]
    assert container["Image"] == xgboost_image(xgboost.__version__, provider.settings.region)
    assert container["ModelDataUrl"].endswith("/xgboost/model.tar.gz")
    assert version.uri.endswith("/model.tar.gz") and version.uri != container["ModelDataUrl"]
    bucket, key = container["ModelDataUrl"][len("s3://") :].split("/", 1)
    body = provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert archive.getnames() == ["xgboost-model"]
    assert (version.framework, version.framework_version) == ("xgboost", xgboost.__version__)


def test_predict_answers_the_boosters_probabilities(provider, xgb_endpoint, classifier, data):
    import xgboost

    name, _ = xgb_endpoint
    rows = data[0][:6]
    result = provider.predict(name, rows.tolist())
    expected = classifier.get_booster().predict(xgboost.DMatrix(rows))
    assert np.allclose(result.predictions, expected, atol=1e-6)
    assert [int(p > 0.5) for p in result.predictions] == classifier.predict(rows).tolist()


def test_status_names_the_xgboost_container(provider, xgb_endpoint):
    name, _ = xgb_endpoint
    (deployment,) = provider.get_endpoint(name).deployments
    assert deployment.runtime.startswith("xgboost (sagemaker-xgboost:")


def test_a_native_booster_file_deploys_the_same_way(provider, classifier, data, tmp_path):
    import xgboost

    from cloudeploy.packaging import build_package

    source = tmp_path / "booster.ubj"
    classifier.get_booster().save_model(str(source))
    name, _ = _deploy(provider, build_package(source, tmp_path / "package").path)
    rows = data[0][:4]
    expected = classifier.get_booster().predict(xgboost.DMatrix(rows))
    assert np.allclose(provider.predict(name, rows.tolist()).predictions, expected, atol=1e-6)


def test_lightgbm_is_served_by_the_serving_image_with_labels(provider, data, tmp_path):
    import lightgbm

    from cloudeploy.packaging import build_package

    X, y = data
    model = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1).fit(X, y)
    package = build_package(model, tmp_path / "package")
    name, version = _deploy(provider, package.path)
    rows = X[:6]
    assert provider.predict(name, rows.tolist()).predictions == model.predict(rows).tolist()
    (deployment,) = provider.get_endpoint(name).deployments
    assert deployment.runtime == f"{package.manifest.runtime} (cloudeploy serving image)"
    assert version.framework == "lightgbm"


# -- the image choice, without the emulation ----------------------------------------


def test_each_xgboost_release_with_an_image_gets_its_tag():
    from cloudeploy.providers.sagemaker.images import choose

    choice = choose(
        model_format="xgboost", frameworks={"xgboost": "1.7.6", "scikit-learn": "1.2.2"},
        region="eu-west-1", serving_image="ours:1",
    )  # fmt: skip
    assert choice.image == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert (choice.runtime, choice.framework, choice.framework_version) == ("xgboost", "xgboost", "1.7.6")
    assert "application/json" not in choice.content_types


def test_an_xgboost_release_without_an_image_never_gets_the_scikit_learn_one():
    from cloudeploy.providers.sagemaker.images import choose

    choice = choose(
        model_format="xgboost", frameworks={"xgboost": "2.1.4", "scikit-learn": "1.2.2"},
        region="eu-west-1", serving_image="ours:1",
    )  # fmt: skip
    assert (choice.image, choice.runtime) == ("ours:1", "cloudeploy")
    assert "XGBoost 2.1.4" in choice.reason


def test_lightgbm_without_a_serving_image_is_a_config_error_saying_why():
    from cloudeploy.errors import ConfigError
    from cloudeploy.providers.sagemaker.images import choose

    with pytest.raises(ConfigError, match="no prebuilt LightGBM"):
        choose(
            model_format="lightgbm", frameworks={"lightgbm": "4.5.0"}, region="us-east-1",
            serving_image=None,
        )  # fmt: skip


def test_predict_sends_csv_only_where_the_xgboost_image_may_answer():
    from cloudeploy.errors import ValidationError
    from cloudeploy.providers.sagemaker import payloads

    xgb = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
    assert payloads.request([[1, 2.5]], ["ours:1"]) == (b"[[1, 2.5]]", "application/json")
    assert payloads.request([[1, 2.5], [None, 3]], ["ours:1", xgb]) == (b"1.0,2.5\n,3.0", "text/csv")
    with pytest.raises(ValidationError, match="CSV numbers"):
        payloads.request([["a", 1]], [xgb])
    assert payloads.predictions({"predictions": [{"score": 0.25}, {"score": 0.75}]}) == [0.25, 0.75]
    assert payloads.predictions([1, 0]) == [1, 0]


def test_batch_prediction_runs_in_the_xgboost_container(provider, classifier, data, tmp_path):
    """The transform job sends CSV lines and the container answers one probability per line."""
    import pandas as pd
    import xgboost

    from cloudeploy import batch_predict
    from cloudeploy.packaging import build_package

    X = data[0][:40]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    frame.to_csv(tmp_path / "in.csv", index=False)
    package = build_package(classifier, tmp_path / "package", name=f"batch-{uuid.uuid4().hex[:6]}")
    job = batch_predict(str(package.path), str(tmp_path / "in.csv"), str(tmp_path / "out.csv"),
                        id_column="id", provider=provider, timeout=300)  # fmt: skip
    assert job.status().state == "succeeded"
    out = pd.read_csv(job.outputs()[0])
    assert out["id"].tolist() == frame["id"].tolist()
    expected = classifier.get_booster().predict(xgboost.DMatrix(X))
    assert np.allclose(out["prediction"], expected, atol=1e-6)


def test_cli_deploy_of_a_booster_file_then_status_shows_the_container(
    sagemaker_emulator_session, provider, classifier, data, tmp_path, monkeypatch
):
    import json

    from click.testing import CliRunner

    from cloudeploy.cli import cli
    from cloudeploy.config import write_profile

    config = write_profile(
        "emu", "sagemaker", sagemaker_emulator_session.profile_settings(), path=tmp_path / "c.toml"
    )
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    model_file = tmp_path / "model.json"
    classifier.save_model(str(model_file))
    name = f"cli-{uuid.uuid4().hex[:6]}"
    runner = CliRunner()
    deployed = runner.invoke(cli, ["deploy", str(model_file), "--name", name, "--profile", "emu"])
    assert deployed.exit_code == 0, deployed.output
    shown = runner.invoke(cli, ["status", "--profile", "emu", "--output", "json"])
    assert shown.exit_code == 0, shown.output
    (endpoint,) = [e for e in json.loads(shown.stdout)["endpoints"] if e["name"] == name]
    assert endpoint["deployments"][0]["runtime"].startswith("xgboost (sagemaker-xgboost:")
    monkeypatch.setenv("COLUMNS", "400")  # the session's emulator holds other tests' endpoints too
    table = runner.invoke(cli, ["endpoints", "show", name, "--profile", "emu"])
    assert "sagemaker-xgboost" in table.output


def test_a_regressor_answers_its_values_in_the_xgboost_container(provider, data, tmp_path):
    import xgboost

    from cloudeploy.packaging import build_package

    X, _ = data
    target = X[:, 0] * 2.0 - X[:, 1]
    regressor = xgboost.XGBRegressor(n_estimators=6, max_depth=3).fit(X, target)
    name, version = _deploy(provider, build_package(regressor, tmp_path / "package").path)
    assert version.framework == "xgboost"
    answers = provider.predict(name, X[:5].tolist()).predictions
    assert np.allclose(answers, regressor.predict(X[:5]), rtol=1e-5)


def _describe_calls(provider) -> list[str]:
    calls: list[str] = []
    provider.clients.sagemaker.meta.events.register(
        "before-call.sagemaker.DescribeEndpoint", lambda **_: calls.append("DescribeEndpoint")
    )
    return calls


def test_predictions_make_no_control_plane_call_once_the_images_are_known(provider, xgb_endpoint, data):
    name, _ = xgb_endpoint
    calls = _describe_calls(provider)
    X, _ = data
    for row in X[:5]:
        provider.predict(name, [row.tolist()])
    assert len(calls) <= 1  # read once (or not at all: known from an earlier call)


def test_a_switch_to_the_xgboost_image_made_by_another_runner_is_still_answered(
    provider, classifier, data, tmp_path, sagemaker_emulator_session
):
    from cloudeploy.packaging import build_package

    X, _ = data
    name = f"switch-{uuid.uuid4().hex[:6]}"
    sklearn_pkg = build_package(_sklearn_on(data), tmp_path / "sk").path
    v1 = provider.upload_model(sklearn_pkg, name)
    provider.create_endpoint(name, model=name)
    provider.deploy(name, v1, scaling=Scaling(1, 1))
    assert len(provider.predict(name, [X[0].tolist()]).predictions) == 1  # JSON to the serving image; map known

    from cloudeploy.providers.sagemaker import payloads

    known = dict(payloads._CACHE)  # what this runner knows; another process would not drop it
    other_runner = SageMakerProvider(Profile(name="emulation", provider="sagemaker",
                                             settings=sagemaker_emulator_session.profile_settings()))
    v2 = other_runner.upload_model(build_package(classifier, tmp_path / "xgb").path, name)
    other_runner.deploy(name, v2, traffic=100, scaling=Scaling(1, 1))
    payloads._CACHE.update(known)
    assert "xgboost" not in "".join(payloads.variant_images(provider.clients.sagemaker, name).values())

    answer = provider.predict(name, [X[0].tolist()])  # this runner's map still says JSON
    assert answer.version == v2.version
    import xgboost

    expected = classifier.get_booster().predict(xgboost.DMatrix(X[:1]))[0]
    assert answer.predictions[0] == pytest.approx(float(expected), abs=1e-6)


def _sklearn_on(data):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    return LogisticRegression(max_iter=500).fit(X, y)
