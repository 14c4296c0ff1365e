"""The OpenAPI 3.1 description of the server's routes, and a Swagger UI page at ``/docs``.

The instance schema is generated from the package's input schema, so the docs
show the model's own feature names and types (as FastAPI users expect), and the
accepted values of categorical features as ``enum``.
"""

from __future__ import annotations

from typing import Any

from cloudeploy.packaging.schema import Feature, InputSchema

_JSON_TYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}


def _value_schema(feature: Feature) -> dict[str, Any]:
    """One feature's value: its JSON type, null if nullable, and its categories as ``enum``."""
    kind = _JSON_TYPES.get(feature.type, "string")
    value: dict[str, Any] = {"type": [kind, "null"] if feature.nullable else kind}
    if feature.categories is not None:
        value["enum"] = [*feature.categories, None] if feature.nullable else list(feature.categories)
    return value


def _instance_schemas(schema: InputSchema | None) -> dict[str, Any]:
    if schema is None or not len(schema):
        return {"Instance": {"description": "One row: a list of feature values or an object keyed by feature name."}}
    items = [{"title": f.name, **_value_schema(f)} for f in schema.features]
    properties = {f.name: _value_schema(f) for f in schema.features}
    return {
        "InstanceList": {
            "type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items),
            "description": "Feature values in schema order.",
        },
        "InstanceObject": {
            "type": "object", "properties": properties, "required": schema.names, "additionalProperties": False,
        },
        "Instance": {"oneOf": [{"$ref": "#/components/schemas/InstanceList"}, {"$ref": "#/components/schemas/InstanceObject"}]},
    }


def _error_responses(*codes: int) -> dict[str, Any]:
    descriptions = {
        400: "Invalid input; the message names the row and the field.",
        406: "The Accept header asks for a format the server cannot produce.",
        413: "Request body larger than the server's limit.",
        415: "Unsupported Content-Type.",
        503: "Not ready yet, draining, or overloaded; retry after Retry-After seconds.",
    }
    return {
        str(code): {
            "description": descriptions[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code in codes
    }


def build_openapi(
    *, title: str, version: str, predict_route: str, health_route: str, schema: InputSchema | None,
    runtime: str | None = None,
) -> dict[str, Any]:
    instances = {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Instance"}}
    predict_request = {
        "type": "object",
        "required": ["instances"],
        "properties": {"instances": instances, "parameters": {"type": "object"}},
    }
    predict_response = {
        "type": "object",
        "required": ["predictions", "modelVersionId"],
        "properties": {"predictions": {"type": "array"}, "modelVersionId": {"type": "string"}},
    }
    ref = "#/components/schemas/"
    health = {
        "responses": {
            "200": {"description": "Ready: the model is loaded."},
            **_error_responses(503),
        }
    }
    paths: dict[str, Any] = {
        predict_route: {
            "post": {
                "summary": "Predict (Vertex AI contract)",
                "operationId": "predict",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref + "PredictRequest"}}}},
                "responses": {
                    "200": {"description": "One prediction per instance.", "content": {"application/json": {"schema": {"$ref": ref + "PredictResponse"}}}},
                    **_error_responses(400, 413, 503),
                },
            }
        },
        "/invocations": {
            "post": {
                "summary": "Predict (SageMaker contract): JSON or CSV",
                "operationId": "invocations",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"oneOf": [{"$ref": ref + "PredictRequest"}, instances]}},
                        "text/csv": {"schema": {"type": "string", "description": "One instance per line, no header."}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "One prediction per instance (CSV: one line each).",
                        "content": {
                            "application/json": {"schema": {"$ref": ref + "PredictResponse"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_error_responses(400, 406, 413, 415, 503),
                },
            }
        },
        health_route: {"get": {"summary": "Readiness (Vertex AI health route)", "operationId": "health", **health}},
        "/ping": {"get": {"summary": "Readiness (SageMaker)", "operationId": "ping", **health}},
        "/readyz": {"get": {"summary": "Readiness", "operationId": "readyz", **health}},
        "/livez": {"get": {"summary": "Liveness: the process runs", "operationId": "livez", "responses": {"200": {"description": "Alive."}}}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {"200": {"description": "Prometheus text exposition.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "cloudeploy model server" + (f"; predictions answered by the {runtime} runtime" if runtime else ""),
            **({"x-cloudeploy-runtime": runtime} if runtime else {}),
        },
        "paths": paths,
        "components": {
            "schemas": {
                **_instance_schemas(schema),
                "PredictRequest": predict_request,
                "PredictResponse": predict_response,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "status"],
                            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "status": {"type": "string"}},
                        }
                    },
                },
            }
        },
    }


def swagger_html(title: str, openapi_url: str = "/openapi.json") -> str:
    """A Swagger UI page for ``openapi_url`` (the UI's assets load from a CDN, as FastAPI's do)."""
    return f"""<!DOCTYPE html>
<html>
<head>
<title>{title} - Swagger UI</title>
<link type="text/css" rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({{url: "{openapi_url}", dom_id: "#swagger-ui"}})
</script>
</body>
</html>
"""
