"""Categorical features: the fitted categories are listed in /openapi.json and enforced per value."""

from __future__ import annotations

import warnings

import pytest
from openapi_spec_validator import validate

from cloudeploy.packaging.schema import Feature, InputSchema
from cloudeploy.serving.openapi import build_openapi

with warnings.catch_warnings():  # starlette nags about httpx; the client works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CITIES = ["lyon", "nice", "paris"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import numpy as np
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from cloudeploy.packaging import build_package, load_package
    from cloudeploy.serving import create_app

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"area": rng.normal(80, 20, 60), "city": rng.choice(CITIES, 60)})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, (frame.area > 80).astype(int))
    package = build_package(model, tmp_path_factory.mktemp("categories") / "pkg", name="houses")
    with TestClient(create_app(load_package(package.path))) as client:
        yield client


def _instance_schemas(client) -> dict:
    return client.get("/openapi.json").json()["components"]["schemas"]


def test_openapi_lists_the_fitted_categories_as_enum_in_list_rows(client):
    city = _instance_schemas(client)["InstanceList"]["prefixItems"][1]
    assert (city["title"], city["type"], city["enum"]) == ("city", "string", CITIES)


def test_openapi_lists_the_fitted_categories_as_enum_in_object_rows(client):
    properties = _instance_schemas(client)["InstanceObject"]["properties"]
    assert properties["city"] == {"type": "string", "enum": CITIES}
    assert "enum" not in properties["area"]


def test_openapi_with_categories_is_valid_openapi(client):
    validate(client.get("/openapi.json").json())


def test_a_nullable_categorical_feature_also_accepts_null_in_the_description():
    schema = InputSchema((Feature("city", "string", nullable=True, categories=("lyon", "nice")),), named=True)
    document = build_openapi(title="t", version="1", predict_route="/predict", health_route="/health", schema=schema)
    city = document["components"]["schemas"]["InstanceObject"]["properties"]["city"]
    assert city == {"type": ["string", "null"], "enum": ["lyon", "nice", None]}


def test_a_listed_category_gets_a_prediction(client):
    reply = client.post("/predict", json={"instances": [{"area": 70.0, "city": "nice"}]})
    assert reply.status_code == 200
    assert len(reply.json()["predictions"]) == 1


def test_a_value_outside_the_categories_is_a_400_naming_row_feature_and_accepted_values(client):
    instances = [{"area": 70.0, "city": "nice"}, {"area": 90.0, "city": "berlin"}]
    reply = client.post("/predict", json={"instances": instances})
    assert reply.status_code == 400
    message = reply.json()["error"]["message"]
    assert "row 1" in message and "'city'" in message and "'berlin'" in message
    assert all(repr(city) in message for city in CITIES)


def test_a_csv_value_outside_the_categories_is_a_400_naming_row_and_feature(client):
    reply = client.post("/invocations", content=b"70,nice\n90,berlin\n", headers={"content-type": "text/csv"})
    assert reply.status_code == 400
    assert "row 1" in reply.text and "'city'" in reply.text
