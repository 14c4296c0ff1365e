"""Per-version request metrics kept by the gateway.

Two views of the same events: Prometheus counters and a latency histogram at
``/metrics`` for scraping, and a bounded in-memory log of recent requests that
answers "what did version v do between t0 and t1" for promotion gates
(:class:`WindowStats`, the shape of :class:`cloudeploy.providers.base.VersionMetrics`).

Every answer is put in one error class, the same on every provider:

- ``input``: a 4xx other than 429 (the request failed the server's own checks);
- ``model``: any other 5xx and 429, a failed forward (the replica died or gave
  no answer), and the model server's ``non_finite`` class (also counted in
  ``non_finite``);
- ``timeout``: the replica did not answer in time (the gateway answers 504).

A successful answer's predictions are kept per request (class labels as
strings, the arg-max index for probabilities, floats for regressors), so a
window also carries the version's live prediction distribution.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from cloudeploy.providers.base import MAX_PREDICTION_VALUES

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
#: The most regression values a window returns (an even sample of the window's values).
MAX_VALUES = MAX_PREDICTION_VALUES

INPUT, MODEL, TIMEOUT = "input", "model", "timeout"


@dataclass(frozen=True)
class WindowStats:
    version: str
    requests: int
    errors: int
    input_errors: int
    model_errors: int
    timeouts: int
    non_finite: int
    p50_ms: float | None
    p99_ms: float | None
    since: float
    until: float
    prediction_counts: dict[str, int] | None = None
    prediction_values: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "extra"}
        data["client_errors"] = self.input_errors  # the name this field had before issue 14
        return data


def error_class(status: int, declared: str | None = None) -> str | None:
    """The class of an answer with ``status`` (``declared``: the server's X-Cloudeploy-Error-Class)."""
    if status < 400:
        return None
    if status == 504:
        return TIMEOUT
    if status < 500 and status != 429 and declared not in ("model", "non_finite"):
        return INPUT
    return MODEL


def summarize_predictions(predictions: Sequence[Any] | None, output_kind: str) -> tuple | None:
    """What the window keeps of one answer's predictions: label strings, or floats for regressors."""
    if not predictions:
        return None
    if output_kind == "regression":
        values = []
        for value in predictions:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.append(float(value))
        return ("values", tuple(values))
    labels = []
    for value in predictions:
        if isinstance(value, list):  # probabilities: the arg-max class index
            value = max(range(len(value)), key=value.__getitem__) if value else ""
        labels.append(str(value))
    return ("labels", tuple(labels))


class VersionMetrics:
    """Thread-safe recorder of (time, latency, status, class, predictions) per version."""

    def __init__(self, max_events_per_version: int = 200_000) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cloudeploy_gateway_requests",
            "Requests forwarded by the gateway, by version and status code class.",
            ["version", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "cloudeploy_gateway_errors",
            "Requests answered with an error, by version and error class (input, model, timeout).",
            ["version", "class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudeploy_gateway_latency_ms",
            "End-to-end latency through the gateway in milliseconds.",
            ["version"],
            buckets=LATENCY_BUCKETS_MS,
            registry=self.registry,
        )
        self._events: dict[str, deque[tuple]] = {}
        self._max = max_events_per_version
        self._lock = threading.Lock()

    def record(
        self,
        version: str,
        status: int,
        latency_ms: float,
        at: float | None = None,
        *,
        declared_class: str | None = None,
        predictions: tuple | None = None,
    ) -> None:
        """One answered request. ``declared_class`` is the model server's X-Cloudeploy-Error-Class;
        ``predictions`` what :func:`summarize_predictions` made of a successful answer."""
        at = time.time() if at is None else at
        klass = error_class(status, declared_class)
        non_finite = declared_class == "non_finite"
        self.requests.labels(version=version, code=f"{status // 100}xx").inc()
        if klass is not None:
            self.errors.labels(version=version, **{"class": klass}).inc()
        self.latency.labels(version=version).observe(latency_ms)
        with self._lock:
            events = self._events.get(version)
            if events is None:
                events = self._events[version] = deque(maxlen=self._max)
            events.append((at, latency_ms, status, klass, non_finite, predictions))

    def window(self, version: str, since: float, until: float | None = None) -> WindowStats:
        until = time.time() if until is None else until
        with self._lock:
            events = list(self._events.get(version, ()))
        times = [e[0] for e in events]
        lo, hi = bisect.bisect_left(times, since), bisect.bisect_right(times, until)
        selected = events[lo:hi]
        latencies = np.array([e[1] for e in selected], dtype=float)
        classes = Tally(e[3] for e in selected)
        labels: Tally[str] = Tally()
        values: list[float] = []
        saw_labels = saw_values = False
        for event in selected:
            predictions = event[5]
            if predictions is None:
                continue
            kind, items = predictions
            if kind == "labels":
                saw_labels = True
                labels.update(items)
            else:
                saw_values = True
                values.extend(items)
        if len(values) > MAX_VALUES:
            step = len(values) / MAX_VALUES
            values = [values[int(i * step)] for i in range(MAX_VALUES)]
        return WindowStats(
            version=version,
            requests=len(selected),
            errors=classes[INPUT] + classes[MODEL] + classes[TIMEOUT],
            input_errors=classes[INPUT],
            model_errors=classes[MODEL],
            timeouts=classes[TIMEOUT],
            non_finite=sum(1 for e in selected if e[4]),
            p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
            p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
            since=since,
            until=until,
            prediction_counts=dict(labels) if saw_labels else None,
            prediction_values=values if saw_values else None,
        )
