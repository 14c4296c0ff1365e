"""The OpenAPI description and the docs page."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate


def test_openapi_document_is_valid_openapi(shared_server):
    validate(httpx.get(f"{shared_server.url}/openapi.json").json())


def test_openapi_describes_both_contracts(shared_server):
    paths = httpx.get(f"{shared_server.url}/openapi.json").json()["paths"]
    assert {"/predict", "/invocations", "/health", "/ping", "/livez", "/readyz", "/metrics"} <= set(paths)
    assert "text/csv" in paths["/invocations"]["post"]["requestBody"]["content"]


def test_openapi_names_the_models_features(shared_server, breast_cancer):
    features, _ = breast_cancer
    schemas = httpx.get(f"{shared_server.url}/openapi.json").json()["components"]["schemas"]
    assert schemas["InstanceObject"]["required"] == list(features.columns)
    assert len(schemas["InstanceList"]["prefixItems"]) == 30


def test_docs_page_loads_the_openapi_document(shared_server):
    reply = httpx.get(f"{shared_server.url}/docs")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in reply.text
