"""Raw predict, as the official sample does it.

Sample: vertex-ai-samples ``notebooks/official/prediction/get_started_with_raw_predict.ipynb``:
``Model.upload``, ``Endpoint.create``, ``endpoint.deploy``, then an
``httpbody_pb2.HttpBody(data=json.dumps(DATA).encode(), content_type="application/json")``
in an ``aiplatform_v1.RawPredictRequest`` sent with
``aiplatform.gapic.PredictionServiceClient(client_options={"api_endpoint": ...}).raw_predict``.
The emulator speaks REST only, so the client here is built with ``transport="rest"``
(and anonymous credentials); everything else is the sample's.

The REST reference (``projects.locations.endpoints.rawPredict``) says the body goes
to the model as is and the answer carries ``X-Vertex-AI-Endpoint-Id`` and
``X-Vertex-AI-Deployed-Model-Id``; that form is what ``gcloud ai endpoints
raw-predict`` and ``Endpoint.raw_predict`` send, through google-auth's
``AuthorizedSession`` (used here the same way, with the emulator's address).
"""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import (
    PREBUILT_IMAGE,
    fitted_model,
    instances,
)


@pytest.fixture(scope="module")
def endpoint(vertex, model_uri):
    from google.cloud import aiplatform

    model = aiplatform.Model.upload(
        display_name="example", artifact_uri=model_uri, serving_container_image_uri=PREBUILT_IMAGE
    )
    endpoint = aiplatform.Endpoint.create(display_name="example", labels={"your_key": "your_value"})
    endpoint.deploy(
        model=model, deployed_model_display_name="example", machine_type="n1-standard-4"
    )
    return endpoint


@pytest.fixture(scope="module")
def pred_client(vertex):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    client_options = {"api_endpoint": vertex.emulator.api_endpoint}
    return aiplatform.gapic.PredictionServiceClient(
        client_options=client_options, transport="rest", credentials=AnonymousCredentials()
    )


def raw_request(endpoint, data: dict):
    from google.api import httpbody_pb2
    from google.cloud import aiplatform_v1

    http_body = httpbody_pb2.HttpBody(
        data=json.dumps(data).encode("utf-8"), content_type="application/json"
    )
    return aiplatform_v1.RawPredictRequest(http_body=http_body, endpoint=endpoint.resource_name)


def test_gapic_raw_predict_returns_the_containers_answer_as_an_http_body(endpoint, pred_client):
    response = pred_client.raw_predict(raw_request(endpoint, {"instances": instances()}))
    assert response.content_type == "application/json"
    body = json.loads(response.data)
    assert body["predictions"] == fitted_model(0).predict(instances()).tolist()


def test_http_raw_predict_passes_the_body_and_names_the_serving_model(endpoint, vertex):
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(AnonymousCredentials())
    url = f"{vertex.emulator.api_endpoint}/v1/{endpoint.resource_name}:rawPredict"
    response = session.post(
        url=url,
        data=json.dumps({"instances": instances(3)}),
        headers={"Content-Type": "application/json"},
    )
    (deployed,) = endpoint.list_models()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["predictions"] == fitted_model(0).predict(instances(3)).tolist()
    assert response.headers["X-Vertex-AI-Endpoint-Id"] == endpoint.name
    assert response.headers["X-Vertex-AI-Deployed-Model-Id"] == deployed.id
    assert response.headers["X-Vertex-AI-Model"] == deployed.model


def test_raw_predict_on_an_endpoint_without_models_is_a_precondition_error(vertex, pred_client):
    from google.cloud import aiplatform

    empty = aiplatform.Endpoint.create(display_name="empty")
    with pytest.raises(exceptions.BadRequest) as raised:
        pred_client.raw_predict(raw_request(empty, {"instances": instances(1)}))
    assert raised.value.code == 400
    assert "deployed" in raised.value.message


def test_raw_predict_on_an_unknown_endpoint_is_not_found(vertex, pred_client, endpoint):
    from google.api import httpbody_pb2
    from google.cloud import aiplatform_v1

    missing = endpoint.resource_name.rsplit("/", 1)[0] + "/424242"
    request = aiplatform_v1.RawPredictRequest(
        http_body=httpbody_pb2.HttpBody(data=b"{}", content_type="application/json"),
        endpoint=missing,
    )
    with pytest.raises(exceptions.NotFound):
        pred_client.raw_predict(request)
