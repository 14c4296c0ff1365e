"""Every Vertex AI option has its effect, seen through the real SDK on the emulator; ``strict`` checks the schema."""

from __future__ import annotations

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.errors import ConfigError, ValidationError
from cloudeploy.providers.vertex import containers
from tests.vertex.conftest import fitted_model, instances

OTHER_IMAGE = "europe-docker.pkg.dev/pricing/serving/cloudeploy-serving:2"


@pytest.fixture
def settings(vertex_emulator):
    return vertex_emulator.profile_settings(bucket="options-tests")


def make_provider(settings):
    from cloudeploy.providers.vertex import VertexProvider

    return VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))


@pytest.fixture
def provider(settings):
    return make_provider(settings)


@pytest.fixture
def package(tmp_path):
    from cloudeploy.packaging import build_package

    built = {}

    def make(seed: int = 0):
        if seed not in built:
            built[seed] = build_package(fitted_model(seed), tmp_path / f"package-{seed}", name="house-price").path
        return built[seed]

    return make


@pytest.fixture
def prebuilt_for_this_sklearn(monkeypatch):
    """Vertex AI publishing a prebuilt image for the installed scikit-learn (it lags: today it does not)."""
    import sklearn

    major_minor = ".".join(sklearn.__version__.split(".")[:2])
    monkeypatch.setattr(containers, "PREBUILT_SKLEARN", (*containers.PREBUILT_SKLEARN, major_minor))


def test_labels_reach_the_model_version_and_the_endpoint(provider, package, aiplatform):
    cloudeploy.deploy(package(), "house-price", provider=provider, options={"labels": {"team": "pricing"}})
    assert aiplatform.Model("house-price").labels["team"] == "pricing"
    assert aiplatform.Endpoint("house-price").labels["team"] == "pricing"


def test_labels_are_added_to_an_existing_endpoint_and_version(provider, package, aiplatform):
    cloudeploy.deploy(package(), "house-price", provider=provider)
    cloudeploy.deploy(package(), "house-price", provider=provider, options={"labels": {"cost-centre": "c42"}})
    assert aiplatform.Endpoint("house-price").labels["cost-centre"] == "c42"
    assert aiplatform.Model("house-price").labels["cost-centre"] == "c42"
    assert aiplatform.Model("house-price").labels["cloudeploy-managed"] == "true"


def test_the_serving_image_option_is_the_image_that_serves(provider, package, aiplatform):
    deployment = cloudeploy.deploy(package(), "house-price", provider=provider, options={"serving_image": OTHER_IMAGE})
    assert aiplatform.Model("house-price").container_spec.image_uri == OTHER_IMAGE
    assert deployment.predict(instances(3)) == fitted_model(0).predict(instances(3)).tolist()


def test_the_service_account_option_reaches_the_deployed_model(provider, package, aiplatform):
    account = "serving@pricing.iam.gserviceaccount.com"
    cloudeploy.deploy(package(), "house-price", provider=provider, options={"service_account": account})
    (deployed,) = aiplatform.Endpoint("house-price").list_models()
    assert deployed.service_account == account


def test_an_option_the_step_does_not_read_changes_nothing(provider, package):
    version = provider.upload_model(package(), "house-price")
    provider.create_endpoint("house-price", model="house-price")
    with pytest.raises(ValidationError, match="'labels' does not apply to deploy"):
        provider.deploy("house-price", version, options={"labels": {"team": "pricing"}})
    assert provider.get_endpoint("house-price").deployments == ()


def test_without_strict_a_prebuilt_image_serves_when_one_matches(provider, package, aiplatform, prebuilt_for_this_sklearn):
    provider.upload_model(package(), "house-price")
    assert containers.runtime_of_image(aiplatform.Model("house-price").container_spec.image_uri) == "sklearn"


def test_strict_serves_with_the_image_that_refuses_requests_off_the_schema(
    provider, package, settings, aiplatform, prebuilt_for_this_sklearn
):
    deployment = cloudeploy.deploy(package(), "house-price", provider=provider, strict=True)
    assert aiplatform.Model("house-price").container_spec.image_uri == settings["serving_image"]
    assert deployment.predict(instances(2)) == fitted_model(0).predict(instances(2)).tolist()
    with pytest.raises(ValidationError, match="expected 3 features, got 2"):
        deployment.predict([[0.1, 0.2]])


def test_strict_refuses_a_version_registered_with_a_prebuilt_image(provider, package, prebuilt_for_this_sklearn):
    version = provider.upload_model(package(), "house-price")
    provider.create_endpoint("house-price", model="house-price")
    with pytest.raises(ValidationError, match="strict: house-price@v1 is registered with the prebuilt image"):
        provider.deploy("house-price", version, options={"strict": True})
    with pytest.raises(ValidationError, match="strict: house-price@v1"):
        provider.upload_model(package(), "house-price", options={"strict": True})
    assert provider.get_endpoint("house-price").deployments == ()


def test_strict_without_a_serving_image_is_a_config_error(settings, package):
    provider = make_provider({k: v for k, v in settings.items() if k != "serving_image"})
    with pytest.raises(ConfigError, match="strict needs the cloudeploy serving image"):
        provider.upload_model(package(), "house-price", options={"strict": True})


def test_a_version_taking_other_inputs_is_refused_on_a_vertex_endpoint(provider, package, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from cloudeploy.errors import SchemaMismatchError
    from tests.vertex.conftest import training_data

    cloudeploy.deploy(package(), "house-price", provider=provider)
    X, y = training_data(5)
    wider = LogisticRegression().fit(X[:, :2], y)
    with pytest.raises(SchemaMismatchError, match="takes inputs .2 features.* but v1 on house-price takes .3 features"):
        cloudeploy.deploy(wider, "house-price", provider=provider)
    assert [v.version for v in provider.list_versions("house-price")] == ["v1"]
