"""Every SageMaker option has its effect, seen through boto3 on the emulation; ``strict`` checks the schema."""

from __future__ import annotations

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.errors import ConfigError, ValidationError
from cloudeploy.providers.sagemaker import SageMakerProvider, images
from cloudeploy.testing.conformance import fitted_classifier, sample_instances


def make_provider(settings):
    return SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))


@pytest.fixture
def provider(emu, settings):
    return make_provider(settings)


@pytest.fixture
def package(tmp_path):
    from cloudeploy.packaging import build_package

    built = {}

    def make(seed: int = 0):
        if seed not in built:
            built[seed] = build_package(fitted_classifier(seed), tmp_path / f"package-{seed}", name="p").path
        return built[seed]

    return make


@pytest.fixture
def prebuilt_for_this_sklearn(monkeypatch):
    """SageMaker publishing a prebuilt image for the installed scikit-learn (it lags: today it does not)."""
    import sklearn

    major_minor = ".".join(sklearn.__version__.split(".")[:2])
    monkeypatch.setattr(images, "PREBUILT_TAGS", {**images.PREBUILT_TAGS, major_minor: "1.4-2"})


def image_of(sm, version) -> str:
    package = sm.describe_model_package(ModelPackageName=version.provider_id)
    return package["InferenceSpecification"]["Containers"][0]["Image"]


def test_the_serving_image_option_is_the_image_that_serves(provider, package, sm, settings):
    other = settings["serving_image"].rsplit(":", 1)[0] + ":candidate"
    deployment = cloudeploy.deploy(package(), "house", provider=provider, options={"serving_image": other})
    assert image_of(sm, provider.get_model_version("house", "v1")) == other
    rows = sample_instances(3)
    assert deployment.predict(rows) == fitted_classifier(0).predict(rows).tolist()


def test_data_capture_given_to_deploy_reaches_the_endpoint_config(provider, package, sm):
    cloudeploy.deploy(package(), "house", provider=provider, options={"data_capture": {"sampling_percentage": 20}})
    config_name = sm.describe_endpoint(EndpointName="house")["EndpointConfigName"]
    capture = sm.describe_endpoint_config(EndpointConfigName=config_name)["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 20


def test_an_option_the_step_does_not_read_is_refused_before_any_change(provider, package):
    with pytest.raises(ValidationError, match="'data_capture' does not apply to upload .* read by deploy"):
        provider.upload_model(package(), "house", options={"data_capture": True})
    with pytest.raises(ValidationError, match="'batch_strategy' does not apply to deploy .* read by batch"):
        cloudeploy.deploy(package(), "house", provider=provider, options={"batch_strategy": "SingleRecord"})
    assert provider.list_models() == []


def test_a_wrongly_typed_batch_option_is_refused_naming_it(provider, tmp_path):
    with pytest.raises(ValidationError, match="'max_payload_mb' of the sagemaker provider must be a whole number"):
        cloudeploy.batch_predict(
            "house@v1", "s3://bucket/in.csv", "s3://bucket/out/preds.csv", provider=provider, options={"max_payload_mb": "6"}
        )


def test_without_strict_a_prebuilt_image_serves_when_one_matches(provider, package, sm, prebuilt_for_this_sklearn):
    version = provider.upload_model(package(), "house")
    assert images.runtime_of_image(image_of(sm, version)) == "sklearn"


def test_strict_serves_with_the_image_that_refuses_requests_off_the_schema(
    provider, package, sm, settings, prebuilt_for_this_sklearn
):
    deployment = cloudeploy.deploy(package(), "house", provider=provider, strict=True)
    assert image_of(sm, provider.get_model_version("house", "v1")) == settings["serving_image"]
    with pytest.raises(ValidationError, match="expected 4 features, got 2"):
        deployment.predict([[0.1, 0.2]])


def test_strict_refuses_a_version_registered_with_a_prebuilt_image(provider, package, prebuilt_for_this_sklearn):
    version = provider.upload_model(package(), "house")
    provider.create_endpoint("house", model="house")
    with pytest.raises(ValidationError, match="strict: house@v1 is registered with the prebuilt image sagemaker-scikit"):
        provider.deploy("house", version, options={"strict": True})
    assert provider.get_endpoint("house").deployments == ()


def test_strict_without_a_serving_image_is_a_config_error(settings, package, emu):
    provider = make_provider({k: v for k, v in settings.items() if k != "serving_image"})
    with pytest.raises(ConfigError, match="strict needs the cloudeploy serving image"):
        provider.upload_model(package(), "house", options={"strict": True})


def test_a_version_taking_other_inputs_is_refused_on_a_sagemaker_endpoint(provider, package):
    from sklearn.linear_model import LogisticRegression

    from cloudeploy.errors import SchemaMismatchError

    cloudeploy.deploy(package(), "house", provider=provider)
    rows = sample_instances(20, seed=3)
    narrower = LogisticRegression().fit([r[:2] for r in rows], [int(r[0] > 0) for r in rows])
    with pytest.raises(SchemaMismatchError, match="takes inputs .2 features.* but v1 on house takes .4 features"):
        cloudeploy.deploy(narrower, "house", provider=provider)
    assert [v.version for v in provider.list_versions("house")] == ["v1"]
