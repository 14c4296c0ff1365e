"""The endpoint's HTTP face: splits traffic across versions and forwards to replicas.

Prediction routes (the same shapes as the model server, so clients need not
know a gateway is there):

- ``POST /predict`` (Vertex AI style) and ``POST /invocations`` (SageMaker style)
  go to a version drawn from the traffic split;
- ``POST /versions/{version}/predict`` or the header
  ``X-Cloudeploy-Target-Version`` pin a version (as SageMaker's ``TargetVariant``).

Every answer carries ``X-Cloudeploy-Version``. A forward that fails before the
replica answered (connection refused: the replica died) is retried on another
replica, or on the same one if it is the version's only one (a pooled connection
the replica had just closed); predictions have no side effects, so a read error
is retried too. No failure inside the gateway becomes a bare 500: it is logged
with its traceback and answered as an error of the version it was meant for.

Every answer is recorded for its version with its error class (the model
server's ``X-Cloudeploy-Error-Class``, else the status), latency and, when it
succeeded, its predictions (gateway/metrics.py). A replica that took a request
and did not answer in time is a 504 of class ``timeout``, not retried.

Limits: a body over the replicas' limit is a 413 before anything is forwarded
(read within the limit, never buffered beyond it); past ``max_in_flight``
requests being forwarded, the gateway answers 503 with ``Retry-After`` at once.
An early answer first drops the rest of the body (serving/bodies.py) so every
client can read it. The loopback guard (serving/guard.py) refuses foreign
``Host`` names and cross-origin writes on every route.

Admin routes under ``/_cloudeploy/``: ``status``, ``reload`` (apply the state
file now; answers when the new routing table is in place, or at once with 202
given ``?wait=0``), ``window`` (metrics of
one version over a time range), and ``/metrics`` for Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloudeploy.errors import OperationFailed
from cloudeploy.providers.local.gateway.metrics import VersionMetrics, summarize_predictions
from cloudeploy.providers.local.gateway.mirror import Mirror, parse_predictions
from cloudeploy.providers.local.gateway.supervisor import Supervisor
from cloudeploy.serving import bodies
from cloudeploy.serving.guard import LoopbackGuard
from cloudeploy.serving.settings import DEFAULT_MAX_BODY_BYTES

log = logging.getLogger("cloudeploy.gateway")

FORWARD_ATTEMPTS = 3
#: The body limit: the replicas' own (a bigger body would only be refused by them).
MAX_BODY_BYTES = DEFAULT_MAX_BODY_BYTES
#: Connections to replicas the gateway keeps open at most.
MAX_CONNECTIONS = 256
#: Requests being forwarded at once; past it the gateway answers 503 with Retry-After
#: (no more than it has connections, so nothing waits in the client's pool).
MAX_IN_FLIGHT = MAX_CONNECTIONS
_PASS_HEADERS = ("content-type", "accept", "x-request-id")


def _error(
    status: int, message: str, code: str, *, version: str | None = None, retry_after: bool = False
) -> JSONResponse:
    """An error answer of the gateway's own; ``version``: the version it was meant for (X-Cloudeploy-Version)."""
    headers = {"x-cloudeploy-version": version} if version else {}
    if retry_after or status == 503:  # every 503 of ours is worth retrying shortly
        headers["retry-after"] = "1"
    return JSONResponse({"error": {"code": status, "message": message, "status": code}}, status_code=status,
                        headers=headers)


def _parsed(answer: httpx.Response) -> list | None:
    """A successful answer's per-row predictions, parsed once for the metrics and the mirror."""
    if answer.status_code != 200 or "x-cloudeploy-output-kind" not in answer.headers:
        return None
    return parse_predictions(answer.content, answer.headers.get("content-type", ""))


def create_gateway_app(
    supervisor: Supervisor,
    metrics: VersionMetrics,
    *,
    endpoint: str,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> Starlette:
    client: httpx.AsyncClient | None = None
    reload_lock = asyncio.Lock()
    mirror = Mirror(supervisor)  # shadow traffic (gateway/mirror.py)
    in_flight = 0

    async def forward(request: Request, path: str, version: str | None) -> Response:
        nonlocal in_flight
        if in_flight >= max_in_flight:
            await bodies.discard_rest(request)
            return _error(503, f"endpoint {endpoint} is overloaded: {in_flight} requests in flight "
                          f"(limit {max_in_flight}); retry later", "UNAVAILABLE", retry_after=True)
        in_flight += 1
        try:
            return await forward_admitted(request, path, version)
        except Exception as error:  # answered here, the client's connection stays open
            log.exception("forwarding a request to %s failed", endpoint)
            return _error(500, f"the gateway failed: {type(error).__name__}", "INTERNAL", version=version)
        finally:
            in_flight -= 1

    async def forward_admitted(request: Request, path: str, version: str | None) -> Response:
        try:
            body = await bodies.read_bounded(request, max_body_bytes)
        except bodies.BodyTooLarge as error:
            await bodies.discard_rest(request)
            return _error(413, error.message, "INVALID_ARGUMENT")
        except bodies.InvalidLength as error:
            return _error(400, str(error), "INVALID_ARGUMENT")
        except ClientDisconnect:
            return Response(status_code=499)  # gone before its request was read: not a failure, not counted
        table = supervisor.table
        pinned = version is not None
        if version is None:
            version = table.pick_version()
            if version is None:
                return _error(503, f"endpoint {endpoint} has no version with traffic", "UNAVAILABLE")
        elif version not in table.replicas:
            return _error(404, f"version {version} is not deployed on endpoint {endpoint}", "NOT_FOUND")
        headers = {k: v for k, v in request.headers.items() if k.lower() in _PASS_HEADERS}
        # One id per request, the client's or ours: the replica logs and captures it,
        # and the client gets it back (the key ground truth is joined on).
        headers["x-request-id"] = headers.get("x-request-id") or uuid.uuid4().hex
        tried: tuple = ()
        started = time.perf_counter()
        last_error = ""
        for _ in range(FORWARD_ATTEMPTS):
            table = supervisor.table
            # Another replica if there is one, else the same again: a pooled connection the
            # replica had just closed fails the first try of a version with one replica.
            replica = table.pick_replica(version, exclude=tried) or table.pick_replica(version)
            if replica is None:
                break
            tried += (replica,)
            replica.in_flight += 1
            try:
                answer = await client.post(f"{replica.url}{path}", content=body, headers=headers)
            except (httpx.ReadTimeout, httpx.WriteTimeout) as error:
                # The replica took the request and gave no answer in time: a timeout, not retried.
                metrics.record(version, 504, (time.perf_counter() - started) * 1000)
                return _error(504, f"{version} did not answer in time ({type(error).__name__})", "DEADLINE_EXCEEDED",
                              version=version)
            except httpx.TransportError as error:
                last_error = f"{type(error).__name__}: {error}"
                continue
            except Exception as error:  # an HTTP stack error httpx did not map: still this replica's failure
                log.exception("forwarding to %s of %s failed", replica.url, version)
                last_error = f"{type(error).__name__}: {error}"
                continue
            finally:
                replica.in_flight -= 1
            try:
                return answered(version, path, body, headers, answer, started, pinned=pinned)
            except Exception as error:  # never an unversioned 500 that also closes the client's connection
                log.exception("relaying the answer of %s failed", version)
                metrics.record(version, 500, (time.perf_counter() - started) * 1000)
                return _error(500, f"the gateway failed relaying {version}'s answer: {type(error).__name__}",
                              "INTERNAL", version=version)
        metrics.record(version, 503, (time.perf_counter() - started) * 1000)
        return _error(503, f"no replica of {version} could answer ({last_error or 'none ready'})", "UNAVAILABLE",
                      version=version)

    def answered(version: str, path: str, body: bytes, headers: dict[str, str], answer: httpx.Response,
                 started: float, *, pinned: bool) -> Response:
        """Record a replica's answer for its version, offer it to the mirror, and relay it."""
        latency_ms = (time.perf_counter() - started) * 1000
        parsed = _parsed(answer)
        kind = answer.headers.get("x-cloudeploy-output-kind")
        metrics.record(version, answer.status_code, latency_ms,
                       declared_class=answer.headers.get("x-cloudeploy-error-class"),
                       predictions=summarize_predictions(parsed, kind) if parsed is not None else None)
        out_headers = {
            k.lower(): v for k, v in answer.headers.items()
            if k.lower() in ("content-type", "retry-after", "x-request-id") or k.lower().startswith("x-cloudeploy")
        }
        out_headers["x-cloudeploy-version"] = version
        response = Response(answer.content, status_code=answer.status_code, headers=out_headers)
        if not pinned:  # after the answer is built; never blocks (gateway/mirror.py)
            mirror.offer(version=version, path=path, body=body, headers=headers, status=answer.status_code,
                         latency_ms=latency_ms, content=answer.content,
                         content_type=answer.headers.get("content-type", ""), predictions=parsed)
        return response

    async def predict(request: Request) -> Response:
        pinned = request.headers.get("x-cloudeploy-target-version")
        return await forward(request, "/predict", pinned)

    async def invocations(request: Request) -> Response:
        pinned = request.headers.get("x-cloudeploy-target-version") or request.headers.get(
            "x-amzn-sagemaker-target-variant"
        )
        return await forward(request, "/invocations", pinned)

    async def version_predict(request: Request) -> Response:
        return await forward(request, "/predict", request.path_params["version"])

    async def health(request: Request) -> Response:
        table = supervisor.table
        ready = any(table.replicas.get(v) for v, p in table.traffic.items() if p > 0)
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def status(request: Request) -> Response:
        return JSONResponse({"endpoint": endpoint, **supervisor.status()})

    async def apply_state() -> Response:
        async with reload_lock:
            try:
                await asyncio.to_thread(supervisor.reconcile)
            except OperationFailed as error:
                return _error(409, str(error), "FAILED_PRECONDITION")
        return JSONResponse({"endpoint": endpoint, **supervisor.status()})

    applying: set[asyncio.Task] = set()

    async def reload(request: Request) -> Response:
        if request.query_params.get("wait") == "0":
            # The caller does not wait (wait=False / timeout=0): accept, apply in the background.
            task = asyncio.create_task(apply_state())
            applying.add(task)
            task.add_done_callback(applying.discard)
            return JSONResponse({"endpoint": endpoint, "accepted": True}, status_code=202)
        return await apply_state()

    async def window(request: Request) -> Response:
        try:
            version = request.query_params["version"]
            since = float(request.query_params.get("since", 0))
            until = request.query_params.get("until")
            stats = metrics.window(version, since, float(until) if until else None)
        except (KeyError, ValueError) as error:
            return _error(400, f"bad window query: {error}", "INVALID_ARGUMENT")
        return JSONResponse(stats.to_dict())

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        nonlocal client
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=2.0),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64),
        )
        try:
            yield
        finally:
            await mirror.stop()
            await client.aclose()

    return Starlette(
        middleware=[Middleware(LoopbackGuard)],
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/versions/{version}/predict", version_predict, methods=["POST"]),
            Route("/health", health),
            Route("/ping", health),
            Route("/metrics", prometheus),
            Route("/_cloudeploy/status", status),
            Route("/_cloudeploy/reload", reload, methods=["POST"]),
            Route("/_cloudeploy/window", window),
            *mirror.routes(endpoint),
        ],
        lifespan=lifespan,
    )
