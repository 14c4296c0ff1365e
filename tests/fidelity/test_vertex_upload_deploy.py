"""Upload, deploy and predict, as the official samples do them.

Sample: GoogleCloudPlatform/vertex-ai-samples ``notebooks/official/prediction/
get_started_with_raw_predict.ipynb`` and the custom-model notebooks: ``Model.upload``
with a prebuilt serving image, ``Endpoint.create``, ``endpoint.deploy(model=...,
deployed_model_display_name=..., machine_type=...)``, ``endpoint.predict``, then
``undeploy_all``/``delete``. Checked against the REST reference: upload returns
version 1 with the ``default`` alias; the deployed model gets 100% of the traffic;
predict answers with the model's predictions and the deployed model's ids; a
machine type not in the prediction list is 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import (
    PREBUILT_IMAGE,
    fitted_model,
    instances,
)


@pytest.fixture(scope="module")
def model(vertex, model_uri):
    from google.cloud import aiplatform

    return aiplatform.Model.upload(
        display_name="example",
        artifact_uri=model_uri,
        serving_container_image_uri=PREBUILT_IMAGE,
    )


@pytest.fixture(scope="module")
def endpoint(model):
    from google.cloud import aiplatform

    endpoint = aiplatform.Endpoint.create(display_name="example", labels={"your_key": "your_value"})
    endpoint.deploy(
        model=model, deployed_model_display_name="example", machine_type="n1-standard-4"
    )
    return endpoint


def test_upload_registers_version_1_holding_the_default_alias(model, model_uri):
    assert model.version_id == "1"
    assert list(model.version_aliases) == ["default"]
    assert model.uri == model_uri
    assert model.container_spec.image_uri == PREBUILT_IMAGE
    assert model.resource_name.startswith(
        f"projects/{model.project}/locations/{model.location}/models/"
    )


def test_deploy_sends_all_traffic_to_the_deployed_model(endpoint, model):
    (deployed,) = endpoint.list_models()
    assert deployed.display_name == "example"
    assert deployed.model == model.resource_name
    assert deployed.model_version_id == "1"
    assert deployed.dedicated_resources.machine_spec.machine_type == "n1-standard-4"
    assert deployed.dedicated_resources.min_replica_count == 1
    assert endpoint.traffic_split == {deployed.id: 100}
    assert endpoint.labels == {"your_key": "your_value"}


def test_predict_answers_with_the_models_predictions_and_ids(endpoint, model):
    prediction = endpoint.predict(instances=instances())
    (deployed,) = endpoint.list_models()
    assert prediction.predictions == fitted_model(0).predict(instances()).tolist()
    assert prediction.deployed_model_id == deployed.id
    assert prediction.model_version_id == "1"
    assert prediction.model_resource_name == model.resource_name


def test_an_unknown_machine_type_is_invalid_argument_and_deploys_nothing(endpoint, model):
    with pytest.raises(exceptions.BadRequest) as raised:
        endpoint.deploy(model=model, machine_type="n1-imaginary-7", traffic_percentage=0)
    assert raised.value.code == 400
    assert "n1-imaginary-7" in raised.value.message
    assert len(endpoint.list_models()) == 1


def test_an_unknown_machine_type_is_refused_on_a_new_endpoint_too(model):
    from google.cloud import aiplatform

    with pytest.raises(exceptions.BadRequest, match="n1-imaginary-7"):
        model.deploy(machine_type="n1-imaginary-7")
    assert all(
        not e.list_models() for e in aiplatform.Endpoint.list() if e.display_name != "example"
    )


def test_undeploy_all_then_delete_removes_the_endpoint(vertex, model_uri):
    from google.cloud import aiplatform

    model = aiplatform.Model.upload(
        display_name="short-lived",
        artifact_uri=model_uri,
        serving_container_image_uri=PREBUILT_IMAGE,
    )
    endpoint = model.deploy(machine_type="n1-standard-2")
    endpoint.undeploy_all()
    endpoint.delete()
    model.delete()
    assert endpoint.resource_name not in [e.resource_name for e in aiplatform.Endpoint.list()]
    assert model.resource_name not in [m.resource_name for m in aiplatform.Model.list()]
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model(model.resource_name)
