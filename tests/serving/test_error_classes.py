"""Error classes: a 4xx only for requests that fail the server's own checks; whatever
the model does wrong on a valid request is a model error (500), counted apart.

The models are the failure zoo's plain scikit-learn estimators, served in-process.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from cloudeploy.testing import zoo

ROWS = zoo.traffic(40)
#: Rows the log pipeline cannot take (x0 <= 0) and rows it can.
BAD_FOR_LOG = [row for row in ROWS if row[0] <= 0]
GOOD_FOR_LOG = [row for row in ROWS if row[0] > 0]


def _app(model, tmp_path_factory, name: str, *, trust: bool = False):
    from cloudeploy.packaging import build_package, load_package
    from cloudeploy.serving import create_app

    package = build_package(model, tmp_path_factory.mktemp(name) / "package", name=name, trust=trust)
    return create_app(load_package(package.path, trust=trust) if trust else load_package(package.path))


@pytest.fixture(scope="module")
def knn_app(tmp_path_factory):
    return _app(zoo.case("raises_every_row").build(), tmp_path_factory, "knn")


@pytest.fixture(scope="module")
def log_app(tmp_path_factory):
    return _app(zoo.case("raises_some_rows").build(), tmp_path_factory, "log")


def _client(app):
    from starlette.testclient import TestClient

    return TestClient(app)


def _class_count(metrics_text: str, error_class: str, route: str = "predict") -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("cloudeploy_errors_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
            if labels.get("class") == error_class and labels.get("route") == route:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_value_error_raised_by_the_model_is_a_500_model_error_naming_the_request(knn_app):
    with _client(knn_app) as client:
        reply = client.post("/predict", json={"instances": [ROWS[0]]}, headers={"x-request-id": "req-42"})
    assert reply.status_code == 500
    message = reply.json()["error"]["message"]
    assert message.startswith("model error: the model raised ValueError")
    assert "n_neighbors" in message and "req-42" in message
    assert reply.headers["x-cloudeploy-error-class"] == "model"


def test_model_errors_and_input_errors_are_counted_apart_in_metrics(knn_app):
    with _client(knn_app) as client:
        before = client.get("/metrics").text
        client.post("/predict", json={"instances": [ROWS[0]]})
        client.post("/predict", json={"instances": [ROWS[1]]})
        client.post("/predict", json={"instances": [[1.0, 2.0]]})  # fails the schema: 3 features short
        after = client.get("/metrics").text
    assert _class_count(after, "model") - _class_count(before, "model") == 2
    assert _class_count(after, "input") - _class_count(before, "input") == 1


def test_a_schema_invalid_request_is_still_a_400_input_error(knn_app):
    with _client(knn_app) as client:
        reply = client.post("/predict", json={"instances": [[1.0, "a", 2.0, 3.0]]})
    assert reply.status_code == 400
    assert reply.headers["x-cloudeploy-error-class"] == "input"
    assert "row 0" in reply.json()["error"]["message"]


def test_sagemaker_invocations_answer_a_model_error_as_a_failing_container_does(knn_app):
    # SageMaker wraps a container's 5xx into ModelError (OriginalStatusCode 500); the container answers 500.
    with _client(knn_app) as client:
        as_json = client.post("/invocations", json=[ROWS[0]])
        as_csv = client.post("/invocations", content="0.1,0.2,0.3,0.4\n", headers={"content-type": "text/csv"})
    assert as_json.status_code == 500 and "model error" in as_json.json()["error"]["message"]
    assert as_csv.status_code == 500 and as_csv.text.startswith("500 INTERNAL: model error")


def test_a_model_failing_on_some_rows_fails_only_the_requests_holding_them(log_app):
    async def concurrently():
        transport = httpx.ASGITransport(app=log_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            bodies = [[row] for row in GOOD_FOR_LOG[:12]] + [[row] for row in BAD_FOR_LOG[:6]]
            replies = await asyncio.gather(*(client.post("/predict", json={"instances": b}) for b in bodies))
            return [r.status_code for r in replies]

    statuses = asyncio.run(concurrently())
    assert statuses == [200] * 12 + [500] * 6


def test_a_request_mixing_good_and_bad_rows_is_one_model_error(log_app):
    with _client(log_app) as client:
        reply = client.post("/predict", json={"instances": [GOOD_FOR_LOG[0], BAD_FOR_LOG[0]]})
    assert reply.status_code == 500
    assert "Input X contains NaN" in reply.json()["error"]["message"]


def test_a_nan_prediction_is_a_model_error_of_class_non_finite(tmp_path_factory):
    app = _app(zoo.case("returns_nan").build(), tmp_path_factory, "nan")
    with _client(app) as client:
        replies = [client.post("/predict", json={"instances": [row]}) for row in ROWS[:20]]
        metrics = client.get("/metrics").text
    bad = [r for r in replies if r.status_code != 200]
    assert bad and len(bad) < len(replies)
    assert {r.status_code for r in bad} == {500}
    assert {r.headers["x-cloudeploy-error-class"] for r in bad} == {"non_finite"}
    assert "non-finite prediction" in bad[0].json()["error"]["message"]
    assert _class_count(metrics, "non_finite") == len(bad)


def test_a_prediction_count_other_than_the_instance_count_is_a_model_error(tmp_path_factory):
    case = zoo.case("wrong_row_count")
    app = _app(case.build(), tmp_path_factory, "drops", trust=case.trust)
    with _client(app) as client:
        reply = client.post("/predict", json={"instances": ROWS[:3]})
    assert reply.status_code == 500
    assert "returned 2 predictions for 3 instances" in reply.json()["error"]["message"]


def test_answers_name_the_output_kind(knn_app):
    with _client(knn_app) as client:
        reply = client.post("/predict", json={"instances": [[1.0]]})
    assert reply.headers["x-cloudeploy-output-kind"] == "class_labels"


def test_a_type_error_raised_by_the_model_is_a_model_error_too(tmp_path_factory):
    # A bitwise step written for integer features gets the floats the schema accepts.
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y, _ = zoo.training_data()
    model = make_pipeline(FunctionTransformer(np.invert), LogisticRegression()).fit((X * 10).astype(int), y)
    with _client(_app(model, tmp_path_factory, "invert")) as client:
        reply = client.post("/predict", json={"instances": [[0.5, 1.0, 2.0, 3.0]]})
    assert reply.status_code == 500
    assert "model error: the model raised TypeError" in reply.json()["error"]["message"]
    assert reply.headers["x-cloudeploy-error-class"] == "model"
