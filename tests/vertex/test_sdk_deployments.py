"""Deploy, predict, traffic and undeploy through the official SDK only.

Every deployment starts a real model server, so predictions are the model's.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.vertex.conftest import instances


@pytest.fixture
def endpoint(aiplatform):
    return aiplatform.Endpoint.create(display_name="fraud", endpoint_id="fraud")


def deploy(model, endpoint, **kwargs):
    kwargs.setdefault("machine_type", "n1-standard-2")
    model.deploy(endpoint=endpoint, **kwargs)
    return {d.model_version_id: d.id for d in endpoint.list_models()}


def test_first_model_takes_all_traffic(upload, endpoint):
    ids = deploy(upload(), endpoint)
    assert endpoint.traffic_split == {ids["1"]: 100}


def test_update_moves_traffic(upload, endpoint):
    first = upload()
    deploy(first, endpoint)
    ids = deploy(upload(seed=1, parent_model=first.resource_name), endpoint)
    endpoint.update(traffic_split={ids["1"]: 0, ids["2"]: 100})
    assert endpoint.predict(instances=instances(1)).model_version_id == "2"


def test_min_replica_count_below_1_is_400(upload, endpoint):
    model = upload()
    with pytest.raises(exceptions.BadRequest, match="min_replica_count"):
        endpoint.api_client.deploy_model(
            endpoint=endpoint.resource_name,
            deployed_model={
                "model": model.versioned_resource_name,
                "dedicated_resources": {
                    "machine_spec": {"machine_type": "n1-standard-2"},
                    "min_replica_count": 0,
                },
            },
            traffic_split={"0": 100},
        )


def test_deploy_operation_is_pending_until_polled(upload, endpoint):
    model = upload()
    operation = endpoint.api_client.deploy_model(
        endpoint=endpoint.resource_name,
        deployed_model={
            "model": model.versioned_resource_name,
            "dedicated_resources": {
                "machine_spec": {"machine_type": "n1-standard-2"},
                "min_replica_count": 1,
            },
        },
        traffic_split={"0": 100},
    )
    assert operation.operation.done is False
    operation.result(timeout=120)
    assert operation.done()


def test_undeploy_with_a_split_taking_its_traffic_away(upload, endpoint):
    first = upload()
    deploy(first, endpoint)
    ids = deploy(upload(seed=1, parent_model=first.resource_name), endpoint, traffic_percentage=50)
    endpoint.undeploy(ids["1"], traffic_split={ids["2"]: 100})
    assert endpoint.traffic_split == {ids["2"]: 100}
    assert [m.id for m in endpoint.list_models()] == [ids["2"]]


def test_undeploy_stops_the_model_server_process(upload, endpoint, vertex_emulator):
    import psutil

    deploy(upload(), endpoint)
    (pid,) = vertex_emulator.model_server_pids()
    endpoint.undeploy_all()
    assert vertex_emulator.model_server_pids() == []
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_reset_stops_every_model_server(upload, endpoint, vertex_emulator):
    import psutil

    deploy(upload(), endpoint)
    pids = vertex_emulator.model_server_pids()
    vertex_emulator.reset()
    assert vertex_emulator.model_server_pids() == []
    assert all(
        not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in pids
    )


def test_delete_with_force_undeploys_then_deletes(aiplatform, upload, endpoint):
    deploy(upload(), endpoint)
    endpoint.delete(force=True)
    assert aiplatform.Endpoint.list() == []


def test_predict_without_deployed_models_is_400(endpoint):
    with pytest.raises(exceptions.BadRequest, match="deployed models"):
        endpoint.predict(instances=instances(1))


def test_unloadable_artifact_fails_the_deploy_and_keeps_the_split(
    aiplatform, upload, endpoint, tmp_path
):
    first = upload()
    ids = deploy(first, endpoint)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a model")
    bad = aiplatform.Model.upload(
        display_name="house-price",
        artifact_uri=str(broken),
        parent_model=first.resource_name,
        is_default_version=False,
        serving_container_image_uri=first.container_spec.image_uri,
    )
    with pytest.raises(exceptions.GoogleAPICallError):
        deploy(bad, endpoint, traffic_percentage=50)
    assert endpoint.traffic_split == {ids["1"]: 100}


def test_mutate_deployed_model_changes_replicas_in_place(upload, endpoint):
    ids = deploy(upload(), endpoint, min_replica_count=1, max_replica_count=1)
    endpoint.api_client.mutate_deployed_model(
        endpoint=endpoint.resource_name,
        deployed_model={
            "id": ids["1"],
            "dedicated_resources": {"min_replica_count": 2, "max_replica_count": 4},
        },
        update_mask={
            "paths": [
                "dedicated_resources.min_replica_count",
                "dedicated_resources.max_replica_count",
            ]
        },
    ).result(timeout=60)
    resources = endpoint.list_models()[0].dedicated_resources
    assert (resources.min_replica_count, resources.max_replica_count) == (2, 4)
    assert resources.machine_spec.machine_type == "n1-standard-2"
