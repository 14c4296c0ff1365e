"""The model server's ASGI app: both cloud container contracts on one Starlette app.

Routes::

    GET  /health  (or $AIP_HEALTH_ROUTE)   readiness, Vertex AI     200 once loaded, else 503
    GET  /ping                             readiness, SageMaker     same
    GET  /readyz                           readiness                same
    GET  /livez                            liveness                 200 while the process runs
    POST /predict (and $AIP_PREDICT_ROUTE) {"instances": [...], "parameters": {...}}
                                           -> {"predictions": [...], "modelVersionId": "v1"}
    POST /invocations                      SageMaker: JSON (Vertex shape or a bare list) or
                                           text/csv; the Accept header picks the answer's
                                           format, by default the request's
    GET  /metrics                          Prometheus
    GET  /openapi.json, /docs              OpenAPI description, Swagger UI

Every prediction answer carries ``X-Cloudeploy-Model``, ``X-Cloudeploy-Version``,
``X-Cloudeploy-Output-Kind`` and ``X-Request-Id``. Readiness turns 503 while draining,
so load balancers stop sending before the process exits; predictions that still
arrive while draining are answered.

Error classes are strict, and every error answer names its class in
``X-Cloudeploy-Error-Class`` (also the ``class`` label of
``cloudeploy_errors_total``):

- ``input`` (4xx): the request failed the server's own checks before the model
  saw it (payload shape, schema, types, size, media type); the message names the
  row and field.
- ``model`` (500): anything the model raised on a schema-valid request
  (``ValueError`` and ``TypeError`` included), a prediction count that differs
  from the instance count; ``non_finite`` (500): a NaN or infinite prediction.
  The message says it is a model error and gives the request id. On
  ``/invocations`` this is the failing-container answer SageMaker wraps into its
  ``ModelError`` (424 carrying ``OriginalStatusCode`` 500 and this message).
- ``overload`` (503/429 with Retry-After): queue full or not ready yet.
- ``internal`` (500): a fault of the server itself.
"""

from __future__ import annotations

import gc
import html
import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from cloudeploy.packaging.schema import InputError
from cloudeploy.serving import bodies, payloads
from cloudeploy.serving.batcher import MicroBatcher
from cloudeploy.serving.capture import CaptureWriter
from cloudeploy.serving.guard import LoopbackGuard
from cloudeploy.serving.metrics import ServerMetrics
from cloudeploy.serving.openapi import build_openapi, swagger_html
from cloudeploy.serving.payloads import CSV, JSON, HTTPProblem
from cloudeploy.serving.settings import ServerSettings

if TYPE_CHECKING:
    from cloudeploy.packaging import LoadedModel

logger = logging.getLogger("cloudeploy.serving")

Loader = Callable[[], "LoadedModel"]


class ModelServer:
    """The state behind the app: the model (once loaded), batcher, metrics, capture.

    Reachable as ``app.state.server``. ``ready`` is true once the model is loaded
    and until ``draining`` is set (on SIGTERM). With a ``loader``, the model is
    loaded on a background thread at startup, so liveness answers meanwhile;
    ``on_loaded(server)`` / ``on_failed(error)`` report the outcome.
    """

    def __init__(
        self,
        settings: ServerSettings,
        model: LoadedModel | None = None,
        *,
        loader: Loader | None = None,
        on_loaded: Callable[[ModelServer], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.settings = settings
        self.model: LoadedModel | None = None
        self.model_name = settings.model or ""
        self.draining = False
        self.load_error: BaseException | None = None
        self.metrics: ServerMetrics | None = None
        self.batcher: MicroBatcher | None = None
        self.capture: CaptureWriter | None = None
        self._loader = loader
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._openapi: bytes | None = None
        self._openapi_generic = True
        self._headers: dict[str, str] = {}
        if model is not None:
            self._install(model)

    @property
    def ready(self) -> bool:
        return self.model is not None and not self.draining

    def start_loading(self) -> None:
        """Load the model on a background thread (no-op without a loader or once loaded)."""
        if self._loader is None or self.model is not None:
            return
        threading.Thread(target=self._load, name="cloudeploy-load", daemon=True).start()

    def _load(self) -> None:
        try:
            model = self._loader()  # type: ignore[misc]
        except BaseException as error:  # reported to whoever started us; the process exits
            self.load_error = error
            if self._on_failed is not None:
                self._on_failed(error)
            return
        self._install(model)
        if self._on_loaded is not None:
            self._on_loaded(self)

    def _install(self, model: LoadedModel) -> None:
        settings = self.settings
        self.model_name = settings.model or model.manifest.name
        self.metrics = ServerMetrics(
            self.model_name, settings.version,
            runtime=getattr(model, "runtime", ""), model_format=model.manifest.format,
        )
        self.batcher = MicroBatcher(
            _counted(model.predict),
            max_batch=settings.max_batch,
            batch_wait_ms=settings.batch_wait_ms,
            observe=self.metrics.observe_batch,
        )
        if settings.capture_rate > 0:
            self.capture = CaptureWriter(
                settings.capture_dir,  # type: ignore[arg-type]
                rate=settings.capture_rate,
                on_drop=self.metrics.capture_dropped,
                model=self.model_name,
                version=settings.version,
                features=model.schema.names,
                types=[feature.type for feature in model.schema.features],
            )
        self._validate = payloads.RowValidator(model.schema)
        self._headers = {
            "x-cloudeploy-model": self.model_name,
            "x-cloudeploy-version": settings.version,
            "x-cloudeploy-output-kind": model.output_kind,
        }
        # The model's objects live as long as the process: move them out of the
        # collector's sight, so full collections do not scan them mid-request.
        gc.collect()
        gc.freeze()
        self.model = model  # last: requests see a fully installed server

    def close(self) -> None:
        """Answer what is queued, flush capture, stop the threads."""
        if self.batcher is not None:
            self.batcher.close()
        if self.capture is not None:
            self.capture.close()

    # -- routes -------------------------------------------------------------

    async def readiness(self, request: Request) -> Response:
        if self.ready:
            return Response(b'{"status":"ready"}', media_type=JSON)
        reason = "draining" if self.draining else "the model is not loaded yet"
        return _error(503, f"not ready: {reason}", {"retry-after": "1"})

    async def liveness(self, request: Request) -> Response:
        return Response(b'{"status":"alive"}', media_type=JSON)

    async def predict(self, request: Request) -> Response:
        return await self._prediction(request, "predict", sagemaker=False)

    async def invocations(self, request: Request) -> Response:
        return await self._prediction(request, "invocations", sagemaker=True)

    async def metrics_route(self, request: Request) -> Response:
        if self.metrics is None:
            return Response(b"", media_type="text/plain; version=0.0.4")
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None or (self.model is not None and self._openapi_generic):
            self._openapi_generic = self.model is None
            document = build_openapi(
                title=f"{self.model_name or 'cloudeploy model'} model server",
                version=self.settings.version,
                predict_route=self.settings.predict_route,
                health_route=self.settings.health_route,
                schema=self.model.schema if self.model is not None else None,
                runtime=getattr(self.model, "runtime", None),
            )
            self._openapi = orjson.dumps(document)
        return Response(self._openapi, media_type=JSON)

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(swagger_html(html.escape(self.model_name or "cloudeploy model")))

    # -- prediction ---------------------------------------------------------

    async def _prediction(self, request: Request, route: str, *, sagemaker: bool) -> Response:
        started = time.perf_counter()
        request_id = _client_request_id(request.headers.get("x-request-id")) or uuid.uuid4().hex
        answer_csv = False
        try:
            request_csv, answer_csv = _negotiate(request, sagemaker)
            model = self.model
            if model is None:
                raise HTTPProblem(503, "not ready: the model is not loaded yet", headers={"retry-after": "1"})
            body = await _read_body(request, self.settings.max_body_bytes)
            if request_csv:
                rows = payloads.parse_csv(body, self._validate)
            else:
                rows = payloads.parse_json(body, self._validate, allow_bare_list=sagemaker)
            predictions = await self._admit_and_predict(rows)
        except HTTPProblem as problem:
            # An early answer (413, 415, 406, not ready): let the client finish sending
            # first, or it sees a reset instead of the answer (serving/bodies.py).
            await bodies.discard_rest(request)
            response = _error(problem.status, problem.message, problem.headers, text=answer_csv)
            error_class = OVERLOAD if problem.status in (429, 503) else INPUT if problem.status < 500 else INTERNAL
        except InputError as error:
            response = _error(400, error.message, text=answer_csv)
            error_class = INPUT
        except ClientDisconnect:
            # The client went away before its request was read: nobody to answer,
            # no failure of ours or the model's (logged at debug, never counted).
            logger.debug("client disconnected before request %s was read", request_id)
            return Response(status_code=499)
        except ModelFailure as failure:
            logger.warning("model error (request %s): %s", request_id, failure.message)
            response = _error(500, f"model error: {failure.message} (request {request_id})", text=answer_csv)
            error_class = failure.error_class
        except Exception:
            logger.exception("prediction failed (request %s)", request_id)
            response = _error(500, f"internal error while predicting (request {request_id})", text=answer_csv)
            error_class = INTERNAL
        else:
            error_class = None
            if answer_csv:
                response = Response(payloads.encode_csv(predictions), media_type=CSV)
            else:
                response = Response(payloads.encode_json(predictions, self.settings.version), media_type=JSON)
            capture = self.capture
            if capture is not None and capture.sampled():
                # References only: the bodies as received and sent (serving/capture_raw.py).
                capture.add(request_id, body, response.body, (time.perf_counter() - started) * 1000.0,
                            request_csv, answer_csv, rows, predictions)
        response.headers.update(self._headers)
        response.headers["x-request-id"] = request_id
        if error_class is not None:
            response.headers["x-cloudeploy-error-class"] = error_class
        if self.metrics is not None:
            self.metrics.observe_request(route, response.status_code, time.perf_counter() - started, error_class)
        return response

    async def _admit_and_predict(self, rows: list[list[Any]]) -> list[Any]:
        batcher = self.batcher
        assert batcher is not None and self.metrics is not None
        if batcher.pending >= self.settings.max_queue:
            raise HTTPProblem(
                503,
                f"server overloaded: {batcher.pending} requests queued (limit {self.settings.max_queue}); retry later",
                headers={"retry-after": "1"},
            )
        self.metrics.inflight.inc()
        try:
            predictions = await batcher.submit(rows)
        except (InputError, ModelFailure):
            raise
        except Exception as error:
            # The request passed every check of ours: whatever the model raises
            # on it (ValueError and TypeError included) is the model's fault.
            raise ModelFailure(f"the model raised {type(error).__name__}: {error}") from error
        finally:
            self.metrics.inflight.dec()
        where = _non_finite_at(predictions)
        if where is not None:
            raise ModelFailure(f"the model returned a non-finite prediction (NaN or infinity) for instance {where}",
                               NON_FINITE)
        return predictions


#: Error classes (``X-Cloudeploy-Error-Class``, the ``class`` label of ``cloudeploy_errors_total``).
INPUT, MODEL, NON_FINITE, OVERLOAD, INTERNAL = "input", "model", "non_finite", "overload", "internal"


class ModelFailure(Exception):
    """The model failed on a schema-valid request: a 500 of class ``model`` (or ``non_finite``)."""

    def __init__(self, message: str, error_class: str = MODEL) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = error_class


def _counted(predict: Callable[[list[list[Any]]], list[Any]]) -> Callable[[list[list[Any]]], list[Any]]:
    """``predict`` that raises ModelFailure unless it returns one prediction per row.

    Checked per predict call, so a miscounted micro-batch is retried row by row
    (a model that drops rows fails each request on its own).
    """

    def checked(rows: list[list[Any]]) -> list[Any]:
        predictions = predict(rows)
        try:
            count = len(predictions)
        except TypeError:
            raise ModelFailure(f"the model returned {type(predictions).__name__}, not one prediction per instance") from None
        if count != len(rows):
            raise ModelFailure(f"the model returned {count} predictions for {len(rows)} instances")
        return predictions

    return checked


def _non_finite_at(predictions: list[Any]) -> int | None:
    """Index of the first prediction holding NaN or infinity (also inside a list of probabilities)."""
    for index, value in enumerate(predictions):
        if isinstance(value, float):
            if value - value != 0.0:
                return index
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, float) and item - item != 0.0:
                    return index
    return None


def _error(status: int, message: str, headers: dict[str, str] | None = None, *, text: bool = False) -> Response:
    if text:
        return Response(f"{status} {payloads.STATUS_NAMES.get(status, 'ERROR')}: {message}\n", status, headers, media_type="text/plain")
    return Response(payloads.error_body(status, message), status, headers, media_type=JSON)


async def _http_exception(request: Request, error: HTTPException) -> Response:
    # Unknown routes and wrong methods answer in the same JSON shape as everything else.
    return _error(error.status_code, error.detail, dict(error.headers or {}))


def _negotiate(request: Request, sagemaker: bool) -> tuple[bool, bool]:
    """(request is CSV, answer in CSV). Vertex routes are JSON only."""
    if not sagemaker:
        return False, False
    content_type = payloads.media_type(request.headers.get("content-type"))
    if content_type in ("", JSON):
        request_csv = False
    elif content_type == CSV:
        request_csv = True
    else:
        raise HTTPProblem(415, f"unsupported Content-Type {content_type!r}: send application/json or text/csv")
    accept = request.headers.get("accept", "")
    for item in accept.split(","):
        wanted = payloads.media_type(item)
        if wanted == CSV:
            return request_csv, True
        if wanted == JSON:
            return request_csv, False
        if wanted in ("*/*", "text/*", "application/*", ""):
            return request_csv, request_csv
    raise HTTPProblem(406, f"cannot answer in {accept!r}: accept application/json or text/csv")


async def _read_body(request: Request, limit: int) -> bytes:
    try:
        return await bodies.read_bounded(request, limit)
    except bodies.InvalidLength as error:
        raise HTTPProblem(400, str(error)) from None
    except bodies.BodyTooLarge as error:
        raise HTTPProblem(413, error.message) from None


def create_app(
    loaded_model: LoadedModel | None = None,
    settings: ServerSettings | None = None,
    *,
    loader: Loader | None = None,
    on_loaded: Callable[[ModelServer], None] | None = None,
    on_failed: Callable[[BaseException], None] | None = None,
    loopback_only: bool = False,
) -> Starlette:
    """The ASGI app serving ``loaded_model`` with ``settings``.

    ``loopback_only`` puts the loopback guard (serving/guard.py) in front of every
    route: what a server bound to 127.0.0.1 wants, so no web page can drive it.

    Give either a loaded model (ready at once; the app also works mounted inside
    another app, without lifespan events) or a ``loader`` called on a background
    thread at lifespan startup (ready once it returns; liveness answers meanwhile).
    Lifespan shutdown answers queued requests and flushes capture.
    """
    if (loaded_model is None) == (loader is None):
        raise TypeError("create_app needs exactly one of loaded_model or loader")
    settings = (settings or ServerSettings()).validate()
    server = ModelServer(settings, loaded_model, loader=loader, on_loaded=on_loaded, on_failed=on_failed)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        server.start_loading()
        try:
            yield
        finally:
            server.close()

    readiness_paths = dict.fromkeys([settings.health_route, "/health", "/ping", "/readyz"])
    predict_paths = dict.fromkeys([settings.predict_route, "/predict"])
    routes = [Route(path, server.readiness, methods=["GET"]) for path in readiness_paths]
    routes += [Route(path, server.predict, methods=["POST"]) for path in predict_paths]
    routes += [
        Route("/livez", server.liveness, methods=["GET"]),
        Route("/invocations", server.invocations, methods=["POST"]),
        Route("/metrics", server.metrics_route, methods=["GET"]),
        Route("/openapi.json", server.openapi, methods=["GET"]),
        Route("/docs", server.docs, methods=["GET"]),
    ]
    middleware = [Middleware(LoopbackGuard)] if loopback_only else []
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware,
                    exception_handlers={HTTPException: _http_exception})
    app.state.server = server
    return app


def _client_request_id(value: str | None) -> str | None:
    """The client's ``X-Request-Id`` if it is 1-128 visible ASCII characters, else None.

    Anything else (empty, too long, spaces or control characters) is replaced by
    a generated id: the id goes into logs, capture files and error messages.
    """
    if value and len(value) <= 128 and value.isascii() and value.isprintable() and " " not in value:
        return value
    return None
