"""The HTTP layer: Vertex AI v1 REST paths mapped onto the region backends.

Deliberately thin: each route parses the path and the JSON body, takes the
backend's lock, calls one store method and writes its result. Errors leave as
:class:`ApiError` in the service's shape. Predictions are forwarded to the model
server outside the lock.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudeploy.serving.guard import LoopbackGuard
from cloudeploy.testing.vertex import faults
from cloudeploy.testing.vertex._wire import ApiError, invalid
from cloudeploy.testing.vertex.backend import Backends, RegionBackend
from cloudeploy.testing.vertex.bigquery import bigquery_route
from cloudeploy.testing.vertex.raw_predict import RawReply, raw_predict


@dataclass
class Call:
    """One request, as a handler sees it."""

    backend: RegionBackend
    name: str  # the resource path without the /v1/ or /ui/ prefix, custom verb removed
    body: dict[str, Any]
    query: dict[str, str]
    groups: dict[str, str]
    #: The request body as received (what a ``raw`` route reads instead of ``body``).
    raw_body: bytes = b""
    headers: dict[str, str] | None = None


logger = logging.getLogger(__name__)
Handler = Callable[[Call], Any]
#: Longest a GET of an unfinished operation is held waiting for it to be able to finish.
LONG_POLL_SECONDS = 5.0
_LOCATION = r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    verb: str | None
    handler: Handler
    #: False for predictions: the model server is called without the backend lock.
    locked: bool = True
    #: True for operation GETs: held (unlocked) until the operation can finish, up to a bound.
    long_poll: bool = False
    #: True when the body is an arbitrary payload, not a JSON request message.
    raw: bool = False


ROUTES: list[Route] = []


def route(
    method: str,
    pattern: str,
    verb: str | None = None,
    *,
    locked: bool = True,
    long_poll: bool = False,
    raw: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on ``/v1/<pattern>[:verb]`` (also ``/ui/``)."""

    def register(handler: Handler) -> Handler:
        compiled = re.compile(f"^{_LOCATION}{pattern}$")
        ROUTES.append(
            Route(method, compiled, verb, handler, locked=locked, long_poll=long_poll, raw=raw)
        )
        return handler

    return register


def _page(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return {key: items} if items else {}


# -- operations ------------------------------------------------------------------


@route("GET", r"(?:/[A-Za-z]+/[^/]+)?/operations/[^/]+", long_poll=True)
def get_operation(call: Call) -> Any:
    return call.backend.operations.get(call.name).to_json()


@route("GET", r"/(?:endpoints|models)/[^/]+/operations")
def list_operations(call: Call) -> Any:
    """The operations on one endpoint or model (how a client finds work still in progress)."""
    target = call.name.rsplit("/operations", 1)[0]
    return _page([o.to_json() for o in call.backend.operations.list(target)], "operations")


# -- models ----------------------------------------------------------------------


@route("POST", r"/models", "upload")
def upload_model(call: Call) -> Any:
    return call.backend.models.upload(call.body).to_json()


@route("GET", r"/models")
def list_models(call: Call) -> Any:
    return _page(call.backend.models.list(call.query.get("filter")), "models")


@route("GET", r"/models/[^/]+")
def get_model(call: Call) -> Any:
    backend = call.backend
    return backend.models.to_json(backend.models.version(call.name))


@route("GET", r"/models/[^/]+", "listVersions")
def list_model_versions(call: Call) -> Any:
    return _page(call.backend.models.list_versions(call.name, call.query.get("filter")), "models")


@route("POST", r"/models/[^/]+", "mergeVersionAliases")
def merge_version_aliases(call: Call) -> Any:
    return call.backend.models.merge_aliases(call.name, call.body)


@route("PATCH", r"/models/[^/]+")
def update_model(call: Call) -> Any:
    return call.backend.models.update(call.name, call.body, call.query.get("updateMask"))


@route("DELETE", r"/models/[^/@]+")
def delete_model(call: Call) -> Any:
    return call.backend.models.delete(call.name).to_json()


@route("DELETE", r"/models/[^/]+", "deleteVersion")
def delete_model_version(call: Call) -> Any:
    if "@" not in call.name:
        raise invalid("deleteVersion needs a versioned name: models/ID@VERSION.")
    return call.backend.models.delete_version(call.name).to_json()


# -- endpoints -------------------------------------------------------------------


@route("POST", r"/endpoints")
def create_endpoint(call: Call) -> Any:
    return call.backend.endpoints.create(call.body, call.query.get("endpointId")).to_json()


@route("GET", r"/endpoints")
def list_endpoints(call: Call) -> Any:
    return _page(call.backend.endpoints.list(call.query.get("filter")), "endpoints")


@route("GET", r"/endpoints/[^/]+")
def get_endpoint(call: Call) -> Any:
    return call.backend.endpoints.get(call.name)


@route("PATCH", r"/endpoints/[^/]+")
def update_endpoint(call: Call) -> Any:
    return call.backend.endpoints.patch(call.name, call.body, call.query.get("updateMask"))


@route("DELETE", r"/endpoints/[^/]+")
def delete_endpoint(call: Call) -> Any:
    return call.backend.endpoints.delete(call.name).to_json()


@route("POST", r"/endpoints/[^/]+", "deployModel")
def deploy_model(call: Call) -> Any:
    return call.backend.endpoints.deploy(call.name, call.body).to_json()


@route("POST", r"/endpoints/[^/]+", "undeployModel")
def undeploy_model(call: Call) -> Any:
    return call.backend.endpoints.undeploy(call.name, call.body).to_json()


@route("POST", r"/endpoints/[^/]+", "mutateDeployedModel")
def mutate_deployed_model(call: Call) -> Any:
    return call.backend.endpoints.mutate(call.name, call.body).to_json()


def _predict(call: Call, endpoint: str, deployed_model_id: str | None) -> Any:
    started = time.monotonic()
    instances = call.body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise invalid("instances must be a non-empty list.")
    with call.backend.lock:
        deployed = call.backend.endpoints.route(endpoint, deployed_model_id)
    model_ms = 0.0
    code = 200
    try:
        model_started = time.monotonic()
        try:
            predictions = deployed.server.predict(instances, call.body.get("parameters"))
        finally:
            model_ms = (time.monotonic() - model_started) * 1000.0
        call.backend.endpoints.log_prediction(endpoint, deployed.id, instances, predictions)
    except ApiError as error:
        code = error.http_status
        raise
    finally:
        # Cloud Monitoring's prediction metrics count every request a model answered.
        call.backend.metrics.record(
            call.groups["project"], call.groups["region"], endpoint.rsplit("/", 1)[-1], deployed.id,
            latency_ms=(time.monotonic() - started) * 1000.0, code=code, at=time.time(),
            model_ms=model_ms,
        )  # fmt: skip
    return {
        "predictions": predictions,
        "deployedModelId": deployed.id,
        "model": deployed.model_name,
        "modelVersionId": deployed.version.version_id,
        "modelDisplayName": deployed.version.display_name,
    }


@route("POST", r"/endpoints/[^/]+", "predict", locked=False)
def predict(call: Call) -> Any:
    return _predict(call, call.name, None)


@route(
    "POST", r"/endpoints/[^/]+/deployedModels/(?P<deployed_model>[^/]+)", "predict", locked=False
)
def predict_deployed_model(call: Call) -> Any:
    """Predict on one deployed model, bypassing the split (dedicated endpoints' path)."""
    return _predict(call, call.name.split("/deployedModels/")[0], call.groups["deployed_model"])


@route("POST", r"/endpoints/[^/]+", "rawPredict", locked=False, raw=True)
def raw_predict_endpoint(call: Call) -> Any:
    """The payload as is to the container the split picks; its answer as is (see raw_predict.py)."""
    content_type = (call.headers or {}).get("content-type", "application/json")
    return raw_predict(call, call.raw_body, content_type)


# -- batch prediction jobs --------------------------------------------------------


@route("POST", r"/batchPredictionJobs")
def create_batch_job(call: Call) -> Any:
    return call.backend.batch.create(call.body)


@route("GET", r"/batchPredictionJobs")
def list_batch_jobs(call: Call) -> Any:
    return _page(call.backend.batch.list(call.query.get("filter")), "batchPredictionJobs")


@route("GET", r"/batchPredictionJobs/[^/]+")
def get_batch_job(call: Call) -> Any:
    return call.backend.batch.get(call.name)


@route("POST", r"/batchPredictionJobs/[^/]+", "cancel")
def cancel_batch_job(call: Call) -> Any:
    call.backend.batch.cancel(call.name)
    return {}


@route("DELETE", r"/batchPredictionJobs/[^/]+")
def delete_batch_job(call: Call) -> Any:
    return call.backend.batch.delete(call.name, call.backend.operations).to_json()


# -- model deployment monitoring jobs ----------------------------------------------


@route("POST", r"/modelDeploymentMonitoringJobs")
def create_monitoring_job(call: Call) -> Any:
    job = call.backend.monitoring.create(call.body)
    call.backend.endpoints.follow_monitoring_job(job)
    return job


@route("GET", r"/modelDeploymentMonitoringJobs")
def list_monitoring_jobs(call: Call) -> Any:
    return _page(
        call.backend.monitoring.list(call.query.get("filter")), "modelDeploymentMonitoringJobs"
    )


@route("GET", r"/modelDeploymentMonitoringJobs/[^/]+")
def get_monitoring_job(call: Call) -> Any:
    return call.backend.monitoring.get(call.name)


@route("PATCH", r"/modelDeploymentMonitoringJobs/[^/]+")
def update_monitoring_job(call: Call) -> Any:
    operation = call.backend.monitoring.update(call.name, call.body, call.query.get("updateMask"))
    call.backend.endpoints.follow_monitoring_job(call.backend.monitoring.job(call.name).spec)
    return operation.to_json()


@route("POST", r"/modelDeploymentMonitoringJobs/[^/]+", "pause")
def pause_monitoring_job(call: Call) -> Any:
    call.backend.monitoring.pause(call.name)
    return {}


@route("POST", r"/modelDeploymentMonitoringJobs/[^/]+", "resume")
def resume_monitoring_job(call: Call) -> Any:
    call.backend.monitoring.resume(call.name)
    return {}


@route("DELETE", r"/modelDeploymentMonitoringJobs/[^/]+")
def delete_monitoring_job(call: Call) -> Any:
    return call.backend.monitoring.delete(call.name).to_json()


# -- dispatch --------------------------------------------------------------------


def _json_body(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body) if raw_body else {}
    except ValueError:
        raise invalid("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("Request body must be a JSON object.")
    return body


def dispatch(
    backends: Backends,
    method: str,
    path: str,
    raw_body: bytes,
    query: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Find the route for ``method path`` and run it.

    Returns (HTTP status, JSON body), or (status, :class:`RawReply`) from a raw
    route. ``headers`` are the request's, lower-cased names.
    """
    _, _, rest = path.lstrip("/").partition("/")  # drop the "v1" or "ui" prefix
    name, _, verb = rest.partition(":")
    verb = verb or None
    for candidate in ROUTES:
        match = candidate.pattern.match(name)
        if candidate.method != method or candidate.verb != verb or match is None:
            continue
        try:
            body = {} if candidate.raw else _json_body(raw_body)
        except ApiError as error:
            return error.http_status, error.body()
        groups = match.groupdict()
        backend = backends.get(groups["project"], groups["region"])
        call = Call(
            backend=backend, name=name, body=body, query=query, groups=groups,
            raw_body=raw_body, headers=headers,
        )  # fmt: skip
        method_name = faults.method_name(candidate.handler)
        faulted = faults.intercept(backends.faults, method_name, backend, name)
        if faulted is not None:
            return faulted
        try:
            if candidate.long_poll:
                backend.operations.await_progress(name, LONG_POLL_SECONDS)
            if not candidate.locked:
                result = candidate.handler(call)
            else:
                with backend.lock:
                    result = candidate.handler(call)
            return (result.status if isinstance(result, RawReply) else 200), result
        except ApiError as error:
            return error.http_status, error.body()
        except Exception as error:  # a bug in the emulator: answer like the service would
            logger.exception("emulator error on %s %s", method, path)
            return 500, ApiError("INTERNAL", f"Internal error: {error!r}").body()
    return 501, ApiError(
        "UNIMPLEMENTED",
        f"Method {operation_name(method, name, verb)} ({method} {path}) is not implemented "
        "by the cloudeploy Vertex AI emulator.",
    ).body()


def operation_name(method: str, name: str, verb: str | None) -> str:
    """The REST reference's name of a call: ``projects.locations.customJobs.list``.

    Collections are the even path segments; the custom verb, or the standard
    method the HTTP method and the path's shape imply, ends the name.
    """
    segments = [s for s in name.split("/") if s]
    dotted = ".".join(segments[0::2]) or "v1"
    if verb:
        return f"{dotted}.{verb}"
    if len(segments) % 2:  # a collection
        return f"{dotted}.{'create' if method == 'POST' else 'list'}"
    standard = {"GET": "get", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}
    return f"{dotted}.{standard.get(method, method.lower())}"


def create_app(backends: Backends):
    """The Starlette application serving ``/v1/...``, ``/ui/...`` and Monitoring's ``/v3/.../timeSeries``."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route as StarletteRoute

    async def handle(request: Request) -> Response:
        raw = await request.body()
        query = dict(request.query_params)
        headers = {key.lower(): value for key, value in request.headers.items()}
        status, body = await run_in_threadpool(
            dispatch, backends, request.method, request.url.path, raw, query, headers
        )
        if isinstance(body, RawReply):
            return Response(
                body.body, status_code=status, headers=body.headers, media_type=body.content_type
            )
        return Response(json.dumps(body), status_code=status, media_type="application/json")

    async def time_series(request: Request) -> Response:
        """Cloud Monitoring v3 ``projects.timeSeries.list`` (REST)."""
        query = dict(request.query_params)
        name = f"projects/{request.path_params['project']}"
        try:
            body = await run_in_threadpool(backends.metrics.list_time_series, name, query)
        except ApiError as error:
            return Response(json.dumps(error.body()), status_code=error.http_status,
                            media_type="application/json")  # fmt: skip
        return Response(json.dumps(body), media_type="application/json")

    async def fault_plan(request: Request) -> Response:
        status, body = faults.http_view(
            backends.faults, request.method, await request.body(), dict(request.query_params)
        )
        return Response(json.dumps(body), status_code=status, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    return Starlette(
        # Loopback Host names only; no cross-origin writes; the fault plan takes JSON only.
        middleware=[Middleware(LoopbackGuard, json_paths=(faults.HTTP_PATH,))],
        routes=[
            StarletteRoute("/healthz", health),
            StarletteRoute(faults.HTTP_PATH, fault_plan, methods=["GET", "POST", "DELETE"]),
            StarletteRoute("/v3/projects/{project}/timeSeries", time_series, methods=["GET"]),
            bigquery_route(backends.bigquery),
            StarletteRoute("/{prefix:path}", handle, methods=methods),
        ]
    )
