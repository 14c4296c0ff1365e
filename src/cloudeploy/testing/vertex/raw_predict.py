"""``POST endpoints/ID:rawPredict``: an arbitrary HTTP payload to the serving container.

What the service does (REST reference ``projects.locations.endpoints.rawPredict``):
the request body goes to the deployed model that the traffic split picks, as is,
with its ``Content-Type``; the answer is the container's own, and carries the
headers ``X-Vertex-AI-Endpoint-Id`` and ``X-Vertex-AI-Deployed-Model-Id``. The
SDK's ``Endpoint.predict(use_raw_predict=True)`` also reads ``X-Vertex-AI-Model``
(required) and ``X-Vertex-AI-Model-Version-Id``, so the emulator sends those too.

Two callers, two wire forms:

- HTTP clients (``gcloud ai endpoints raw-predict``, ``Endpoint.raw_predict``,
  curl) send the payload itself. The reply is the container's status, content
  type and bytes, with the headers above.
- The GAPIC ``PredictionServiceClient.raw_predict`` of the official raw-predict
  sample runs over gRPC, where the request and the answer are ``HttpBody``
  messages. The emulator has no gRPC listener, so the sample runs with
  ``transport="rest"``, which sends the ``RawPredictRequest`` as JSON,
  ``{"httpBody": {"contentType", "data": base64}}``, and parses the reply as an
  ``HttpBody``. The emulator answers that form as the gRPC service would:
  ``{"contentType", "data": base64}`` (and the same headers), a container error
  as a Google error. This is a stand-in for the gRPC path, not the REST front
  end's behaviour: Google's front end binds the raw HTTP body into
  ``http_body`` (gcloud sends images with their own content type), so over real
  REST that wrapper would reach the container as the payload.

Errors before the container (no such endpoint, nothing deployed, an empty
body) are the usual ``{"error": {...}}``. A raw call is counted in the Cloud
Monitoring prediction metrics like a predict call; it is not written to the
request-response log (only ``predict`` is documented as logged).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.vertex._wire import ApiError, invalid
from cloudeploy.testing.vertex.runner import PREDICT_TIMEOUT

#: The field a transcoded ``RawPredictRequest`` carries its payload in.
HTTP_BODY = "httpBody"


@dataclass
class RawReply:
    """A reply the HTTP layer writes as is (not JSON-encoded)."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _transcoded(raw_body: bytes, content_type: str) -> dict[str, Any] | None:
    """The ``HttpBody`` of a GAPIC REST request, or None when the body is the payload itself."""
    if not content_type.lower().startswith("application/json"):
        return None
    try:
        parsed = json.loads(raw_body)
    except ValueError:
        return None
    if (
        isinstance(parsed, dict)
        and set(parsed) == {HTTP_BODY}
        and isinstance(parsed[HTTP_BODY], dict)
    ):
        return parsed[HTTP_BODY]
    return None


def _decoded(http_body: dict[str, Any]) -> tuple[bytes, str]:
    try:
        data = base64.b64decode(http_body.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise invalid("http_body.data must be base64-encoded bytes.") from None
    return data, http_body.get("contentType") or "application/json"


def _call_container(url: str, payload: bytes, content_type: str) -> tuple[int, str, bytes]:
    import httpx

    try:
        reply = httpx.post(
            f"{url}/predict",
            content=payload,
            headers={"Content-Type": content_type},
            timeout=PREDICT_TIMEOUT,
        )
    except httpx.TimeoutException:
        raise ApiError(
            "DEADLINE_EXCEEDED", f"the model server did not answer within {PREDICT_TIMEOUT:g} s"
        ) from None
    except httpx.HTTPError as error:
        raise ApiError("UNAVAILABLE", f"the model server is unreachable: {error}") from None
    return (
        reply.status_code,
        reply.headers.get("content-type", "application/octet-stream"),
        reply.content,
    )


def raw_predict(call: Any, raw_body: bytes, content_type: str) -> RawReply:
    """Answer one rawPredict ``call`` (an ``app.Call``) for ``call.name``, the endpoint."""
    http_body = _transcoded(raw_body, content_type)
    payload, payload_type = (
        _decoded(http_body) if http_body is not None else (raw_body, content_type)
    )
    if not payload:
        raise invalid("The raw predict request body is empty.")
    endpoint = call.name
    with call.backend.lock:
        deployed = call.backend.endpoints.route(endpoint, None)
    started = time.monotonic()
    status = 500
    try:
        own_answer = getattr(deployed.server, "raw_call", None)  # a prebuilt image's (xgboost_server)
        status, reply_type, reply = (
            own_answer(payload, payload_type)
            if own_answer is not None
            else _call_container(deployed.server.url, payload, payload_type)
        )
    except ApiError as error:
        status = error.http_status
        raise
    finally:
        call.backend.metrics.record(
            call.groups["project"], call.groups["region"], endpoint.rsplit("/", 1)[-1], deployed.id,
            latency_ms=(time.monotonic() - started) * 1000.0, code=status, at=time.time(),
        )  # fmt: skip
    headers = {
        "X-Vertex-AI-Endpoint-Id": endpoint.rsplit("/", 1)[-1],
        "X-Vertex-AI-Deployed-Model-Id": deployed.id,
        "X-Vertex-AI-Model": deployed.model_name,
        "X-Vertex-AI-Model-Version-Id": deployed.version.version_id,
    }
    if http_body is None:
        return RawReply(status, reply_type, reply, headers)
    if status >= 400:
        text = reply.decode("utf-8", "replace")[:2000]
        raise ApiError("INVALID_ARGUMENT" if status < 500 else "INTERNAL", text or f"HTTP {status}")
    message = {"contentType": reply_type, "data": base64.b64encode(reply).decode("ascii")}
    return RawReply(200, "application/json", json.dumps(message).encode(), headers)
