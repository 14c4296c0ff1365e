"""Vertex-specific behaviour of the provider, beyond the shared conformance suite."""

from __future__ import annotations

import pytest

from cloudeploy.config import Profile
from cloudeploy.errors import ConfigError, OperationFailed, OperationTimeout
from cloudeploy.types import TrafficSplit
from tests.vertex.conftest import fitted_model, instances


@pytest.fixture
def settings(vertex_emulator):
    return vertex_emulator.profile_settings(bucket="provider-tests")


@pytest.fixture
def provider(settings):
    from cloudeploy.providers.vertex import VertexProvider

    return VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))


@pytest.fixture
def package(tmp_path):
    from cloudeploy.packaging import build_package

    def make(seed: int = 0):
        return build_package(
            fitted_model(seed), tmp_path / f"package-{seed}", name="house-price"
        ).path

    return make


@pytest.fixture
def sdk(aiplatform):
    return aiplatform


def test_the_registry_resolves_vertex_through_the_profile(settings):
    from cloudeploy.providers import get_provider

    provider = get_provider(Profile(name="emu", provider="vertex", settings=settings))
    assert type(provider).__name__ == "VertexProvider"


def test_profile_without_project_is_a_config_error(settings):
    from cloudeploy.providers.vertex import VertexProvider

    settings = {k: v for k, v in settings.items() if k != "project"}
    with pytest.raises(ConfigError, match="project"):
        VertexProvider(Profile(name="broken", provider="vertex", settings=settings))


def test_staging_bucket_must_be_a_gs_uri(settings):
    from cloudeploy.providers.vertex import VertexProvider

    with pytest.raises(ConfigError, match="gs://"):
        VertexProvider(
            Profile(
                name="broken", provider="vertex", settings={**settings, "staging_bucket": "bucket"}
            )
        )


def test_upload_labels_the_model_and_maps_the_version(provider, package, sdk):
    version = provider.upload_model(package(), "house-price", aliases=["champion"])
    model = sdk.Model("house-price", version="1")
    assert version.provider_id.endswith("/models/house-price@1")
    assert model.labels["cloudeploy-managed"] == "true"
    assert set(model.version_aliases) == {"champion", "default"}


def test_upload_stages_the_package_in_the_profile_bucket(provider, package):
    version = provider.upload_model(package(), "house-price")
    assert version.uri.startswith("gs://provider-tests/cloudeploy/house-price/")


def test_new_scikit_learn_gets_the_cloudeploy_serving_image(provider, package, settings, sdk):
    provider.upload_model(package(), "house-price")
    assert sdk.Model("house-price").container_spec.image_uri == settings["serving_image"]


def test_endpoint_id_is_the_endpoint_name_and_labelled(provider, sdk):
    provider.create_endpoint("fraud", model="fraud")
    endpoint = sdk.Endpoint("fraud")
    assert endpoint.resource_name.endswith("/endpoints/fraud")
    assert endpoint.labels["cloudeploy-managed"] == "true"


def test_an_endpoint_created_outside_cloudeploy_is_adopted(provider, sdk):
    sdk.Endpoint.create(display_name="from-terraform", endpoint_id="fraud")
    status = provider.create_endpoint("fraud", model="fraud")
    assert status.model == "fraud"
    assert [e.name for e in sdk.Endpoint.list()] == ["fraud"]


def test_list_endpoints_skips_endpoints_cloudeploy_does_not_manage(provider, sdk):
    sdk.Endpoint.create(display_name="someone-else", endpoint_id="other")
    provider.create_endpoint("fraud", model="fraud")
    assert [e.name for e in provider.list_endpoints()] == ["fraud"]


def test_invalid_endpoint_name_is_refused_before_any_call(provider):
    from cloudeploy.errors import ValidationError

    with pytest.raises(ValidationError, match="endpoint name"):
        provider.create_endpoint("Fraud_Endpoint", model="fraud")


def test_deploy_without_waiting_finishes_when_polled(provider, package):
    version = provider.upload_model(package(), "house-price")
    provider.create_endpoint("fraud", model="house-price")
    status = provider.deploy("fraud", version, wait=False)
    assert status.deployments == ()
    from cloudeploy.providers.base import wait_until

    done = wait_until(
        lambda: provider.get_endpoint("fraud").deployments,
        timeout=120,
        what="deploy",
        how_to_check="",
    )
    assert [d.version for d in done] == ["v1"]


def test_a_failed_deploy_keeps_the_previous_split_serving(provider, package):
    v1 = provider.upload_model(package(0), "house-price")
    provider.create_endpoint("fraud", model="house-price")
    provider.deploy("fraud", v1)
    broken = package(1)
    model_file = next(p for p in broken.iterdir() if p.name != "cloudeploy.json")
    model_file.write_bytes(b"corrupted after packaging")
    v2 = provider.upload_model(broken, "house-price")
    with pytest.raises(OperationFailed):
        provider.deploy("fraud", v2, traffic=50)
    assert provider.get_endpoint("fraud").traffic.to_dict() == {"v1": 100}
    assert (
        provider.predict("fraud", instances()).predictions
        == fitted_model(0).predict(instances()).tolist()
    )


def test_a_failed_first_deploy_leaves_no_orphan_endpoint(provider, package):
    from cloudeploy.errors import NotFoundError

    broken = package(1)
    next(p for p in broken.iterdir() if p.name != "cloudeploy.json").write_bytes(b"corrupted")
    version = provider.upload_model(broken, "house-price")
    provider.create_endpoint("fraud", model="house-price")
    with pytest.raises(OperationFailed, match="removed"):
        provider.deploy("fraud", version)
    with pytest.raises(NotFoundError):
        provider.get_endpoint("fraud")


def test_previous_traffic_survives_a_new_provider_instance(provider, settings):
    from cloudeploy.providers.vertex import VertexProvider

    provider.create_endpoint("fraud", model="house-price")
    provider._remember("fraud", TrafficSplit({"v1": 90, "v2": 10}))
    fresh = VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))
    assert fresh.previous_traffic("fraud") == TrafficSplit({"v1": 90, "v2": 10})


def test_a_wait_that_runs_out_says_the_operation_may_still_be_in_progress(provider):
    class NeverDone:
        def done(self, retry=None):
            return False

    with pytest.raises(OperationTimeout, match="may still be in progress"):
        provider._wait(
            NeverDone(), what="a deploy", timeout=0.2, progress=lambda m: None, how_to_check="look"
        )


def test_progress_is_reported_while_waiting(provider, package):
    messages = []
    provider.upload_model(package(), "house-price", progress=messages.append)
    assert any("staging" in m for m in messages)
    assert any("waiting" in m for m in messages)


def test_unknown_option_is_refused(provider, package):
    from cloudeploy.errors import ValidationError

    with pytest.raises(ValidationError, match="unknown option"):
        provider.upload_model(package(), "house-price", options={"gpu": 1})


def test_deploying_a_deployed_version_with_new_scaling_rescales_it(provider, package):
    from cloudeploy.types import Scaling

    version = provider.upload_model(package(), "house-price")
    provider.create_endpoint("fraud", model="house-price")
    provider.deploy("fraud", version, scaling=Scaling(1, 1))
    status = provider.deploy("fraud", version, scaling=Scaling(2, 4, target=70))
    assert status.deployment("v1").scaling == Scaling(2, 4, target=70.0)
    assert status.traffic.to_dict() == {"v1": 100}


def test_a_failed_precondition_becomes_a_conflict_with_the_services_message(provider, package):
    from cloudeploy.errors import ConflictError
    from cloudeploy.providers.vertex.errors import translated

    provider.upload_model(package(0), "house-price")
    provider.upload_model(package(1), "house-price")
    with pytest.raises(ConflictError) as raised, translated("deleting v2"):
        provider.clients.models.delete_model_version(
            name=provider._model_name("house-price") + "@2"
        )
    assert raised.value.message.startswith("deleting v2: Version 2 of ")
    assert "http://" not in raised.value.message


def test_an_unknown_resource_becomes_not_found(provider):
    from cloudeploy.errors import NotFoundError

    with pytest.raises(NotFoundError, match="nope"):
        provider.get_endpoint("nope")
