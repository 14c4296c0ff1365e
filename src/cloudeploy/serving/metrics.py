"""Prometheus metrics of one model server, served at ``/metrics``.

Every series carries ``model`` and ``version`` labels so that a gateway or a
promotion gate scraping several versions can tell them apart:

- ``cloudeploy_requests_total{route,code}``: prediction requests answered
  (``route`` is ``predict`` or ``invocations``; health, metrics and docs are not counted).
- ``cloudeploy_request_errors_total{route,code}``: those answered with 4xx or 5xx.
- ``cloudeploy_errors_total{route,class}``: the same errors by class (see
  :mod:`cloudeploy.serving.app`): ``input`` (4xx, failed the server's own checks),
  ``model`` (the model raised or miscounted), ``non_finite`` (NaN/inf predictions),
  ``overload`` (429/503 shedding) and ``internal``.
- ``cloudeploy_request_duration_seconds{route}``: latency histogram, receipt to response.
- ``cloudeploy_batch_rows`` / ``cloudeploy_batch_requests``: rows and requests per
  ``predict`` call (micro-batching at work); ``cloudeploy_predict_duration_seconds``.
- ``cloudeploy_inflight_requests``: prediction requests admitted and not yet answered.
- ``cloudeploy_capture_dropped_total``: capture records dropped.
- ``cloudeploy_model_info{runtime,format}``: 1; ``runtime`` says what answers
  (``onnx`` for the compiled graph, ``sklearn``, ``xgboost``, ``lightgbm``).

Each app has its own registry, so several apps in one process (an emulator
serving several models) do not collide. With ``serve(workers=N > 1)`` the
processes share prometheus_client's multiprocess directory
(``$PROMETHEUS_MULTIPROC_DIR``, set by :func:`cloudeploy.serving.serve`), so any
worker's ``/metrics`` reports the sum over all workers.
"""

from __future__ import annotations

import os

from cloudeploy import lazy

prometheus = lazy.module("prometheus_client")
prometheus_multiprocess = lazy.module("prometheus_client.multiprocess")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServerMetrics:
    """The metric objects of one app, with label children cached for the hot path."""

    def __init__(self, model: str, version: str, *, runtime: str = "", model_format: str = "") -> None:
        self.model = model
        self.version = version
        self.registry = prometheus.CollectorRegistry(auto_describe=True)
        labels = ("model", "version")
        self._requests = prometheus.Counter(
            "cloudeploy_requests_total", "Prediction requests answered.",
            (*labels, "route", "code"), registry=self.registry,
        )
        self._errors = prometheus.Counter(
            "cloudeploy_request_errors_total", "Prediction requests answered with 4xx or 5xx.",
            (*labels, "route", "code"), registry=self.registry,
        )
        self._classes = prometheus.Counter(
            "cloudeploy_errors_total", "Prediction requests answered with an error, by error class.",
            (*labels, "route", "class"), registry=self.registry,
        )
        self._duration = prometheus.Histogram(
            "cloudeploy_request_duration_seconds", "Prediction request latency, receipt to response.",
            (*labels, "route"), buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._batch_rows = prometheus.Histogram(
            "cloudeploy_batch_rows", "Rows per predict call.",
            labels, buckets=BATCH_BUCKETS, registry=self.registry,
        ).labels(model, version)
        self._batch_requests = prometheus.Histogram(
            "cloudeploy_batch_requests", "Requests coalesced into one predict call.",
            labels, buckets=BATCH_BUCKETS, registry=self.registry,
        ).labels(model, version)
        self._predict_duration = prometheus.Histogram(
            "cloudeploy_predict_duration_seconds", "Duration of one predict call.",
            labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        ).labels(model, version)
        self.inflight = prometheus.Gauge(
            "cloudeploy_inflight_requests", "Prediction requests admitted and not yet answered.",
            labels, multiprocess_mode="livesum", registry=self.registry,
        ).labels(model, version)
        self._capture_dropped = prometheus.Counter(
            "cloudeploy_capture_dropped_total", "Capture records dropped (queue full or write failed).",
            labels, registry=self.registry,
        ).labels(model, version)
        self._children: dict[tuple[str, int, str | None], tuple] = {}
        prometheus.Gauge(
            "cloudeploy_model_info", "The model being served: what answers (runtime) and its package format.",
            (*labels, "runtime", "format"), multiprocess_mode="max", registry=self.registry,
        ).labels(model, version, runtime, model_format).set(1)

    def observe_request(self, route: str, code: int, seconds: float, error_class: str | None = None) -> None:
        """Count one answered prediction request; ``error_class`` for error answers."""
        if code >= 400 and error_class is None:
            error_class = "input" if code < 500 and code != 429 else "internal"
        key = (route, code, error_class)
        children = self._children.get(key)
        if children is None:
            status = str(code)
            children = (
                self._requests.labels(self.model, self.version, route, status),
                self._errors.labels(self.model, self.version, route, status) if code >= 400 else None,
                self._classes.labels(self.model, self.version, route, error_class) if error_class else None,
                self._duration.labels(self.model, self.version, route),
            )
            self._children[key] = children
        requests, errors, classes, duration = children
        requests.inc()
        if errors is not None:
            errors.inc()
        if classes is not None:
            classes.inc()
        duration.observe(seconds)

    def observe_batch(self, rows: int, requests: int, seconds: float) -> None:
        self._batch_rows.observe(rows)
        self._batch_requests.observe(requests)
        self._predict_duration.observe(seconds)

    def capture_dropped(self) -> None:
        self._capture_dropped.inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = prometheus.CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)
            return prometheus.generate_latest(registry), prometheus.CONTENT_TYPE_LATEST
        return prometheus.generate_latest(self.registry), prometheus.CONTENT_TYPE_LATEST
