"""The Vertex AI container contract, over HTTP against a real server process."""

from __future__ import annotations

import socket

import httpx

from tests.serving.helpers import rows


def test_predict_returns_the_models_predictions_for_list_instances(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": rows(features, 0, 5)})
    assert reply.status_code == 200
    assert reply.json()["predictions"] == forest.predict(features.iloc[0:5]).tolist()


def test_predict_accepts_instances_keyed_by_feature_name(shared_server, breast_cancer, forest):
    features, _ = breast_cancer
    instances = features.iloc[10:13].to_dict(orient="records")
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": instances, "parameters": {}})
    assert reply.status_code == 200
    assert reply.json()["predictions"] == forest.predict(features.iloc[10:13]).tolist()


def test_predict_reports_model_and_version_in_headers_and_body(shared_server, breast_cancer):
    features, _ = breast_cancer
    reply = httpx.post(f"{shared_server.url}/predict", json={"instances": rows(features)})
    assert reply.json()["modelVersionId"] == "v7"
    assert reply.headers["x-cloudeploy-version"] == "v7"
    assert reply.headers["x-cloudeploy-model"] == "bc"


def test_request_id_header_is_echoed(shared_server, breast_cancer):
    features, _ = breast_cancer
    reply = httpx.post(
        f"{shared_server.url}/predict", json={"instances": rows(features)}, headers={"X-Request-Id": "abc123"}
    )
    assert reply.headers["x-request-id"] == "abc123"


def test_health_answers_200_once_ready(shared_server):
    reply = httpx.get(f"{shared_server.url}/health")
    assert reply.status_code == 200


def test_model_name_defaults_to_the_manifest_name(start_server, forest_package, breast_cancer):
    server = start_server(forest_package)
    features, _ = breast_cancer
    reply = httpx.post(f"{server.url}/predict", json={"instances": rows(features)})
    assert reply.headers["x-cloudeploy-model"] == "breast-cancer"
    assert reply.json()["modelVersionId"] == "v1"


def test_aip_environment_sets_port_and_routes(start_server, forest_package, breast_cancer, forest):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"AIP_HTTP_PORT": str(port), "AIP_PREDICT_ROUTE": "/v1/models/bc:predict", "AIP_HEALTH_ROUTE": "/v1/models/bc"}
    server = start_server(forest_package, env=env, port=None)
    features, _ = breast_cancer
    assert server.url == f"http://127.0.0.1:{port}"
    assert httpx.get(f"{server.url}/v1/models/bc").status_code == 200
    reply = httpx.post(f"{server.url}/v1/models/bc:predict", json={"instances": rows(features, 3, 2)})
    assert reply.json()["predictions"] == forest.predict(features.iloc[3:5]).tolist()
