"""Predictions through the official SDK only, on one endpoint shared by this module.

The endpoint serves version 1 (a bare model.joblib on a prebuilt image) at 75%
and version 2 (a cloudeploy package on the cloudeploy serving image) at 25%.
The tests only read, so the deployment is made once for the module.
"""

from __future__ import annotations

import collections

import pytest
from google.api_core import exceptions

from tests.vertex.conftest import BUCKET, PREBUILT_IMAGE, fitted_model, instances

SERVING_IMAGE = "us-central1-docker.pkg.dev/test-project/cloudeploy/cloudeploy-serving:latest"


@pytest.fixture(scope="module")
def served(vertex_emulator_session, tmp_path_factory):
    """(endpoint, {version id: deployed model id}) with v1 at 75% and v2 at 25%."""
    import joblib
    from google.cloud import aiplatform

    from cloudeploy.packaging import build_package

    emulator = vertex_emulator_session
    emulator.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_endpoint)
        emulator.profile_settings(bucket=BUCKET)
        emulator.init_sdk(staging_bucket=f"gs://{BUCKET}")
        bare = tmp_path_factory.mktemp("bare")
        joblib.dump(fitted_model(0), bare / "model.joblib")
        v1 = aiplatform.Model.upload(
            display_name="house-price",
            artifact_uri=str(bare),
            serving_container_image_uri=PREBUILT_IMAGE,
        )
        package = build_package(
            fitted_model(1), tmp_path_factory.mktemp("pkg") / "package", name="house-price"
        )
        v2 = aiplatform.Model.upload(
            display_name="house-price",
            artifact_uri=str(package.path),
            parent_model=v1.resource_name,
            serving_container_image_uri=SERVING_IMAGE,
            serving_container_predict_route="/predict",
            serving_container_health_route="/health",
        )
        endpoint = aiplatform.Endpoint.create(display_name="fraud", endpoint_id="shared")
        v1.deploy(
            endpoint=endpoint,
            machine_type="n1-highcpu-4",
            min_replica_count=2,
            max_replica_count=5,
            autoscaling_target_cpu_utilization=70,
        )
        v2.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=25)
        yield endpoint, {d.model_version_id: d.id for d in endpoint.list_models()}
    emulator.reset()


def test_split_is_75_25(served):
    endpoint, ids = served
    assert endpoint.traffic_split == {ids["1"]: 75, ids["2"]: 25}


def test_deployment_keeps_machine_type_replicas_and_cpu_target(served):
    endpoint, ids = served
    deployed = next(d for d in endpoint.list_models() if d.id == ids["1"])
    resources = deployed.dedicated_resources
    assert resources.machine_spec.machine_type == "n1-highcpu-4"
    assert (resources.min_replica_count, resources.max_replica_count) == (2, 5)
    assert resources.autoscaling_metric_specs[0].metric_name.endswith("cpu/utilization")
    assert resources.autoscaling_metric_specs[0].target == 70


def test_predictions_come_from_the_model_that_served_them(served):
    endpoint, ids = served
    seed_of = {ids["1"]: 0, ids["2"]: 1}
    for _ in range(4):
        result = endpoint.predict(instances=instances())
        assert (
            result.predictions
            == fitted_model(seed_of[result.deployed_model_id]).predict(instances()).tolist()
        )


def test_predictions_follow_the_traffic_split(served):
    endpoint, ids = served
    served_by = collections.Counter(
        endpoint.predict(instances=instances(1)).deployed_model_id for _ in range(20)
    )
    assert served_by == {ids["1"]: 15, ids["2"]: 5}


def test_prediction_names_the_model_version(served):
    endpoint, ids = served
    result = endpoint.predict(instances=instances(1))
    version = next(v for v, i in ids.items() if i == result.deployed_model_id)
    assert result.model_version_id == version
    assert result.model_resource_name == endpoint.list_models()[0].model


def test_instances_the_model_cannot_take_are_400(served):
    endpoint, _ = served
    with pytest.raises(exceptions.BadRequest):
        endpoint.predict(instances=[[1.0, 2.0]])


def test_deployed_model_cannot_be_deleted(served):
    from google.cloud import aiplatform

    endpoint, _ = served
    model = aiplatform.Model(endpoint.list_models()[0].model)
    with pytest.raises(exceptions.BadRequest, match="deployed"):
        model.delete()


def test_endpoint_with_deployed_models_cannot_be_deleted(served):
    endpoint, _ = served
    with pytest.raises(exceptions.BadRequest, match="undeploy"):
        endpoint.api_client.delete_endpoint(name=endpoint.resource_name)


def test_split_not_summing_to_100_is_400_and_changes_nothing(served):
    endpoint, ids = served
    with pytest.raises(exceptions.BadRequest, match="sum to 100"):
        endpoint.update(traffic_split={ids["1"]: 50, ids["2"]: 40})
    assert endpoint.traffic_split == {ids["1"]: 75, ids["2"]: 25}


def test_undeploying_a_model_with_traffic_needs_a_split_that_removes_it(served):
    endpoint, ids = served
    with pytest.raises(exceptions.BadRequest, match="traffic"):
        endpoint.api_client.undeploy_model(
            endpoint=endpoint.resource_name, deployed_model_id=ids["2"]
        ).result()
    with pytest.raises(exceptions.BadRequest, match="still sends"):
        endpoint.api_client.undeploy_model(
            endpoint=endpoint.resource_name,
            deployed_model_id=ids["2"],
            traffic_split={ids["1"]: 50, ids["2"]: 50},
        ).result()
    assert endpoint.traffic_split == {ids["1"]: 75, ids["2"]: 25}
