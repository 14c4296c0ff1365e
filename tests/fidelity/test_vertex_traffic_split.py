"""Traffic split between two deployed models, as the SDK documents it.

Flow of the samples that canary a new model (vertex-ai-samples custom-model
notebooks, ``Endpoint.deploy`` docs): deploy model A, deploy model B to the same
endpoint with ``traffic_percentage=20``, predict, shift the split with
``endpoint.update(traffic_split=...)``, then ``endpoint.undeploy`` the old one.

Documented results (``Endpoint.traffic_split`` and ``DeployModelRequest``
reference): a new model's percentage is taken from the others proportionally, the
split is keyed by deployed-model id and sums to 100, a split that does not sum to
100 or names a model that is not deployed is 400 INVALID_ARGUMENT, and
predictions come from the models the split sends traffic to.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import (
    PREBUILT_IMAGE,
    fitted_model,
    instances,
    save_model,
)


@pytest.fixture(scope="module")
def deployed(vertex):
    """(endpoint, id of model A's deployment, id of model B's deployment)."""
    from google.cloud import aiplatform

    models = [
        aiplatform.Model.upload(
            display_name=f"model-{name}",
            artifact_uri=save_model(vertex, f"split/{name}", seed=seed),
            serving_container_image_uri=PREBUILT_IMAGE,
        )
        for name, seed in (("a", 0), ("b", 1))
    ]
    endpoint = aiplatform.Endpoint.create(display_name="canary")
    models[0].deploy(endpoint=endpoint, machine_type="n1-standard-2")
    models[1].deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=20)
    ids = {d.display_name: d.id for d in endpoint.list_models()}
    return endpoint, ids["model-a"], ids["model-b"]


def test_a_canary_takes_its_percentage_from_the_model_serving(deployed):
    endpoint, a, b = deployed
    assert endpoint.traffic_split == {a: 80, b: 20}


def test_predictions_come_from_both_models_of_the_split(deployed):
    endpoint, a, b = deployed
    answered = {endpoint.predict(instances=instances(1)).deployed_model_id for _ in range(20)}
    assert answered == {a, b}


def test_a_split_that_does_not_sum_to_100_is_invalid_and_changes_nothing(deployed):
    endpoint, a, b = deployed
    with pytest.raises(exceptions.BadRequest, match="100"):
        endpoint.update(traffic_split={a: 50, b: 20})
    assert endpoint.traffic_split == {a: 80, b: 20}


def test_a_split_naming_an_unknown_deployed_model_is_invalid(deployed):
    endpoint, a, _ = deployed
    with pytest.raises(exceptions.BadRequest, match="12345"):
        endpoint.update(traffic_split={a: 50, "12345": 50})


def test_moving_all_traffic_then_undeploying_the_old_model(deployed):
    endpoint, a, b = deployed
    endpoint.update(traffic_split={a: 0, b: 100})
    prediction = endpoint.predict(instances=instances())
    assert prediction.deployed_model_id == b
    assert prediction.predictions == fitted_model(1).predict(instances()).tolist()
    endpoint.undeploy(deployed_model_id=a)
    assert [d.id for d in endpoint.list_models()] == [b]
    assert endpoint.traffic_split == {b: 100}
