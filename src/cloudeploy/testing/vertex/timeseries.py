"""Cloud Monitoring time series of the predictions the emulator serves.

Every online prediction is recorded (:meth:`PredictionMetrics.record`) and read
back through ``ListTimeSeries`` in the Monitoring v3 JSON shape, for the metrics
Vertex AI publishes per deployed model on resource type
``aiplatform.googleapis.com/Endpoint`` (labels ``resource_container``,
``location``, ``endpoint_id``; metric label ``deployed_model_id``):

- ``prediction_count``: DELTA INT64, one per predict request, failed ones included;
- ``error_count``: DELTA INT64, failed requests (any status >= 400);
- ``response_count``: DELTA INT64, one per request, label ``response_code``
  (the HTTP status the caller got, e.g. ``"200"``, ``"400"``, ``"500"``): the
  series to tell error classes apart by;
- ``prediction_latencies``: DELTA DISTRIBUTION in ms with exponential buckets,
  so percentiles can be estimated, label ``latency_type``: ``total`` (the whole
  predict call), ``model`` (waiting for the model server) and ``overhead``
  (the rest).

Unaligned points cover :data:`SAMPLE_PERIOD` (1 s where the service uses 60 s,
so short test windows resolve). With ``aggregation.alignmentPeriod`` and
``ALIGN_DELTA``/``ALIGN_SUM``, points cover periods counted back from the end
of the interval and hold exactly the predictions inside the interval. The
filter language is the ``AND`` of ``key = "value"`` terms on ``metric.type``,
``resource.type``, ``resource.labels.*`` and ``metric.labels.*``.
"""

from __future__ import annotations

import datetime
import math
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from cloudeploy.testing.vertex._wire import invalid

PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = PREFIX + "prediction_count"
ERROR_COUNT = PREFIX + "error_count"
RESPONSE_COUNT = PREFIX + "response_count"
PREDICTION_LATENCIES = PREFIX + "prediction_latencies"
RESOURCE_TYPE = "aiplatform.googleapis.com/Endpoint"
#: The ``latency_type`` label values of ``prediction_latencies`` (custom-container models get all three).
LATENCY_TYPES = ("total", "model", "overhead")
#: Seconds covered by one unaligned point.
SAMPLE_PERIOD = 1.0
#: Latency buckets: underflow below 1 ms, then boundaries 1.2**i ms (up to ~56 s), then overflow.
BUCKETS = {"numFiniteBuckets": 60, "growthFactor": 1.2, "scale": 1.0}
#: Predictions remembered per deployed model (oldest forgotten first).
MAX_EVENTS = 200_000

_ALIGNERS = {"ALIGN_NONE": 0, "ALIGN_DELTA": 1, "ALIGN_SUM": 14}
_REDUCERS = {"REDUCE_NONE": 0}
_TERM = re.compile(r'^\s*([a-z_.]+)\s*=\s*"([^"]*)"\s*$')


@dataclass(frozen=True)
class _Event:
    time: float
    latency_ms: float
    code: int
    model_ms: float


class PredictionMetrics:
    """Predictions served, per deployed model; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (project, location, endpoint_id, deployed_model_id) -> events in time order
        self._events: dict[tuple[str, str, str, str], deque[_Event]] = {}

    def record(
        self,
        project: str,
        location: str,
        endpoint_id: str,
        deployed_model_id: str,
        *,
        latency_ms: float,
        code: int,
        at: float,
        model_ms: float | None = None,
    ) -> None:
        """One prediction request that ended at ``at`` (epoch seconds) with HTTP status ``code``.

        ``latency_ms`` is the whole call, ``model_ms`` the part spent waiting
        for the model server (the whole call when not given).
        """
        key = (project, location, endpoint_id, deployed_model_id)
        model_ms = latency_ms if model_ms is None else min(model_ms, latency_ms)
        with self._lock:
            events = self._events.setdefault(key, deque(maxlen=MAX_EVENTS))
            events.append(_Event(at, latency_ms, code, model_ms))

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def list_time_series(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """``ListTimeSeries`` of ``name`` (``projects/P``) for flat REST query ``params``.

        ``params`` keys as in the REST query string: ``filter``,
        ``interval.startTime``, ``interval.endTime``, ``aggregation.alignmentPeriod``,
        ``aggregation.perSeriesAligner``, ``aggregation.crossSeriesReducer``, ``view``.
        Raises ApiError INVALID_ARGUMENT naming what is wrong.
        """
        project = _project_of(name)
        terms = _parse_filter(params.get("filter") or "")
        metric_type = terms.pop("metric.type", None)
        if metric_type is None:
            raise invalid('filter must name exactly one metric.type, e.g. metric.type = "..."')
        if metric_type not in (PREDICTION_COUNT, ERROR_COUNT, RESPONSE_COUNT, PREDICTION_LATENCIES):
            return {}
        if terms.pop("resource.type", RESOURCE_TYPE) != RESOURCE_TYPE:
            return {}
        end = _timestamp(params.get("interval.endTime"), "interval.endTime")
        start_text = params.get("interval.startTime")
        start = _timestamp(start_text, "interval.startTime") if start_text else end
        if start > end:
            raise invalid("interval.startTime must not be after interval.endTime.")
        period, aligned = _alignment(params)
        headers_only = str(params.get("view", "FULL")) in ("HEADERS", "1")
        with self._lock:
            selected = {
                key: list(events) for key, events in self._events.items() if key[0] == project
            }
        series = []
        for (_, location, endpoint_id, dm_id), events in sorted(selected.items()):
            resource = {
                "resource_container": project,
                "location": location,
                "endpoint_id": endpoint_id,
            }
            inside = [e for e in events if start < e.time <= end]
            for labels, subset in _split(metric_type, dm_id, inside):
                if not _matches(terms, resource, labels):
                    continue
                header = _header(metric_type, labels, resource)
                points = _points(metric_type, subset, start, end, period, aligned,
                                 labels.get("latency_type", "total"))  # fmt: skip
                if not points:
                    continue
                series.append(header if headers_only else {**header, "points": points})
        return {"timeSeries": series} if series else {}


def _split(
    metric_type: str, dm_id: str, events: list[_Event]
) -> list[tuple[dict[str, str], list[_Event]]]:
    """The series of one deployed model: one per response code or latency type, or just one."""
    if metric_type == ERROR_COUNT:
        return [({"deployed_model_id": dm_id}, [e for e in events if e.code >= 400])]
    if metric_type == RESPONSE_COUNT:
        return [
            (
                {"deployed_model_id": dm_id, "response_code": str(code)},
                [e for e in events if e.code == code],
            )
            for code in sorted({e.code for e in events})
        ]
    if metric_type == PREDICTION_LATENCIES:
        return [
            ({"deployed_model_id": dm_id, "latency_type": kind}, events)
            for kind in LATENCY_TYPES
        ]
    return [({"deployed_model_id": dm_id}, events)]


def _header(metric_type: str, labels: dict[str, str], resource: dict[str, str]) -> dict[str, Any]:
    distribution = metric_type == PREDICTION_LATENCIES
    return {
        "metric": {"type": metric_type, "labels": labels},
        "resource": {"type": RESOURCE_TYPE, "labels": resource},
        "metricKind": "DELTA",
        "valueType": "DISTRIBUTION" if distribution else "INT64",
        "unit": "ms" if distribution else "1",
    }


def _points(
    metric_type: str,
    events: list[_Event],
    start: float,
    end: float,
    period: float,
    aligned: bool,
    latency_type: str = "total",
) -> list[dict[str, Any]]:
    """Points newest first, as the service orders them."""
    buckets: dict[int, list[_Event]] = {}
    for event in events:
        if aligned:
            index = max(0, math.ceil((end - event.time) / period) - 1)
        else:
            index = math.floor(event.time / period)
        buckets.setdefault(index, []).append(event)
    points = []
    for index, members in buckets.items():
        if aligned:
            low, high = max(start, end - (index + 1) * period), end - index * period
        else:
            low, high = index * period, (index + 1) * period
        points.append((high, {"interval": {"startTime": _rfc3339(low), "endTime": _rfc3339(high)},
                              "value": _value(metric_type, members, latency_type)}))  # fmt: skip
    return [point for _, point in sorted(points, key=lambda p: p[0], reverse=True)]


def _value(metric_type: str, events: list[_Event], latency_type: str = "total") -> dict[str, Any]:
    if metric_type != PREDICTION_LATENCIES:
        return {"int64Value": str(len(events))}
    latencies = [_latency(e, latency_type) for e in events]
    mean = sum(latencies) / len(latencies)
    counts = [0] * (BUCKETS["numFiniteBuckets"] + 2)
    for latency in latencies:
        counts[_bucket(latency)] += 1
    return {
        "distributionValue": {
            "count": str(len(latencies)),
            "mean": mean,
            "sumOfSquaredDeviation": sum((x - mean) ** 2 for x in latencies),
            "bucketOptions": {"exponentialBuckets": dict(BUCKETS)},
            "bucketCounts": [str(c) for c in counts],
        }
    }


def _latency(event: _Event, latency_type: str) -> float:
    if latency_type == "model":
        return event.model_ms
    if latency_type == "overhead":
        return max(0.0, event.latency_ms - event.model_ms)
    return event.latency_ms


def _bucket(latency_ms: float) -> int:
    scale, growth, finite = BUCKETS["scale"], BUCKETS["growthFactor"], BUCKETS["numFiniteBuckets"]
    if latency_ms < scale:
        return 0
    return min(finite + 1, 1 + math.floor(math.log(latency_ms / scale, growth)))


def _matches(terms: dict[str, str], resource: dict[str, str], labels: dict[str, str]) -> bool:
    for key, value in terms.items():
        if key.startswith("resource.labels."):
            actual = resource.get(key[len("resource.labels.") :])
        elif key.startswith("metric.labels."):
            actual = labels.get(key[len("metric.labels.") :])
        else:
            raise invalid(f"the filter field {key!r} is not supported (use metric.type, resource.type, "
                          "resource.labels.NAME or metric.labels.NAME)")  # fmt: skip
        if actual != value:
            return False
    return True


def _parse_filter(text: str) -> dict[str, str]:
    terms: dict[str, str] = {}
    for term in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        match = _TERM.match(term)
        if match is None:
            raise invalid(
                f'unsupported filter term {term.strip()!r}: use key = "value" joined by AND'
            )
        if match.group(1) in terms:
            raise invalid(f"the filter names {match.group(1)} twice")
        terms[match.group(1)] = match.group(2)
    return terms


def _alignment(params: dict[str, Any]) -> tuple[float, bool]:
    aligner = str(params.get("aggregation.perSeriesAligner") or "ALIGN_NONE")
    reducer = str(params.get("aggregation.crossSeriesReducer") or "REDUCE_NONE")
    if aligner not in _ALIGNERS and aligner not in {str(v) for v in _ALIGNERS.values()}:
        raise invalid(f"aggregation.perSeriesAligner {aligner} is not supported by the emulator "
                      f"(supported: {', '.join(_ALIGNERS)})")  # fmt: skip
    if reducer not in _REDUCERS and reducer not in {str(v) for v in _REDUCERS.values()}:
        raise invalid(f"aggregation.crossSeriesReducer {reducer} is not supported by the emulator "
                      f"(supported: {', '.join(_REDUCERS)})")  # fmt: skip
    if aligner in ("ALIGN_NONE", "0"):
        return SAMPLE_PERIOD, False
    text = str(params.get("aggregation.alignmentPeriod") or "")
    if not re.fullmatch(r"\d+(\.\d+)?s", text) or float(text[:-1]) <= 0:
        raise invalid(
            f'aggregation.alignmentPeriod must be a positive duration like "60s", got {text!r}'
        )
    return float(text[:-1]), True


def _project_of(name: str) -> str:
    match = re.fullmatch(r"projects/([^/]+)", name or "")
    if match is None:
        raise invalid(f"name must be projects/PROJECT, got {name!r}")
    return match.group(1)


def _timestamp(text: Any, field: str) -> float:
    """RFC 3339 (``2026-01-02T03:04:05.123456789Z``) to epoch seconds."""
    if not text:
        raise invalid(f"{field} is required.")
    match = re.fullmatch(
        r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", str(text)
    )
    if match is None:
        raise invalid(f"{field} must be an RFC 3339 timestamp, got {text!r}")
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    whole = datetime.datetime.fromisoformat(match.group(1) + zone).timestamp()
    return whole + float("0." + (match.group(2) or "0"))


def _rfc3339(seconds: float) -> str:
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(
        timespec="microseconds"
    )
    return stamp.replace("+00:00", "Z")
