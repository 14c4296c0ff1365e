"""A deployed model's gate metrics, read from Cloud Monitoring and the request-response log.

Vertex AI publishes, per deployed model of an endpoint (resource type
``aiplatform.googleapis.com/Endpoint``, metric label ``deployed_model_id``),
``prediction_count``, ``error_count``, ``response_count`` (label
``response_code``) and the ``prediction_latencies`` distribution (label
``latency_type``: ``total``, ``model``, ``overhead``). :func:`version_metrics`
sums them over one window, aligned to a single period that covers it, and maps
``response_count`` to the error classes every provider reports:

- ``input_errors``: 4xx answers but 429 (the model server's own checks
  refused the request; cloudeploy's server answers 4xx for nothing else);
- ``timeouts``: 504 and 408 answers (the prediction deadline passed);
- ``model_errors``: 429 (its queue was full) and every other 5xx (the model
  raised, answered NaN or the wrong number of rows, or its server crashed),
  as on the local provider.

``requests`` is the sum of ``response_count`` (``prediction_count`` when that
has no data). p50/p99 are estimated from the ``total`` latency distribution's
buckets. With the endpoint's request-response logging on, the deployed model's
logged answers in the window give ``prediction_counts`` /
``prediction_values`` (see ``request_log``); ``non_finite`` stays 0 (the model
server answers a NaN with a 5xx, counted in ``model_errors``).
"""

from __future__ import annotations

import math
from typing import Any

from cloudeploy.providers.base import VersionMetrics
from cloudeploy.providers.predictions import PredictionTally

PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = PREFIX + "prediction_count"
ERROR_COUNT = PREFIX + "error_count"
RESPONSE_COUNT = PREFIX + "response_count"
PREDICTION_LATENCIES = PREFIX + "prediction_latencies"
RESOURCE_TYPE = "aiplatform.googleapis.com/Endpoint"


def version_metrics(
    client: Any,
    *,
    project: str,
    endpoint_id: str,
    deployed_model_id: str,
    version: str,
    since: float,
    until: float,
    answers: PredictionTally | None = None,
) -> VersionMetrics:
    """One deployed model's metrics in ``(since, until]``; ``answers`` its logged answers, if any."""
    from google.cloud.monitoring_v3 import Aggregation

    def series(metric_type: str, extra: str = "") -> list[Any]:
        return list(
            client.list_time_series(
                request={
                    "name": f"projects/{project}",
                    "filter": (
                        f'metric.type = "{metric_type}" AND resource.type = "{RESOURCE_TYPE}" '
                        f'AND resource.labels.endpoint_id = "{endpoint_id}" '
                        f'AND metric.labels.deployed_model_id = "{deployed_model_id}"{extra}'
                    ),
                    "interval": {"start_time": _stamp(since), "end_time": _stamp(until)},
                    "aggregation": {
                        # One period over the whole window: one point per series.
                        "alignment_period": {"seconds": max(1, math.ceil(until - since))},
                        "per_series_aligner": Aggregation.Aligner.ALIGN_DELTA,
                    },
                }
            )
        )

    classes = {"requests": 0, "input": 0, "model": 0, "timeout": 0}
    for found in series(RESPONSE_COUNT):
        count = _count(found)
        classes["requests"] += count
        kind = response_class(str(found.metric.labels.get("response_code", "")))
        if kind is not None:
            classes[kind] += count
    requests = classes["requests"] or sum(_count(s) for s in series(PREDICTION_COUNT))
    distributions = [
        p.value.distribution_value
        for s in series(PREDICTION_LATENCIES, ' AND metric.labels.latency_type = "total"')
        for p in s.points
    ]
    counts, values = answers.result() if answers is not None else (None, None)
    return VersionMetrics(
        version=version,
        requests=requests,
        errors=classes["input"] + classes["model"] + classes["timeout"],
        p99_ms=percentile(distributions, 0.99),
        window_start=since,
        window_end=until,
        input_errors=classes["input"],
        model_errors=classes["model"],
        timeouts=classes["timeout"],
        p50_ms=percentile(distributions, 0.50),
        prediction_counts=counts,
        prediction_values=values,
    )


def response_class(code: str) -> str | None:
    """``"input"``, ``"timeout"``, ``"model"`` or None (a success) for a ``response_code`` label.

    Takes exact codes (``"503"``) and classes (``"5xx"``) alike.
    """
    if code in ("504", "408"):
        return "timeout"
    if code == "429":
        return "model"  # the model server's queue was full: the version could not keep up
    if code.startswith("4"):
        return "input"
    if code.startswith("5"):
        return "model"
    return None


def percentile(distributions: list[Any], fraction: float) -> float | None:
    """The ``fraction`` quantile of merged distributions (same bucket options), None when empty.

    Interpolates inside the bucket that holds the quantile, geometrically for
    exponential buckets and linearly otherwise; the overflow bucket answers its
    lower bound.
    """
    counts: list[int] = []
    bounds: Any = None
    for distribution in distributions:
        if not int(distribution.count):
            continue
        bounds = bounds or _bounds(distribution.bucket_options)
        for index, count in enumerate(distribution.bucket_counts):
            if index == len(counts):
                counts.append(0)
            counts[index] += int(count)
    total = sum(counts)
    if not total or bounds is None:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low, high = bounds(index)
            if math.isinf(high):
                return low
            share = (rank - seen) / count
            if low > 0 and high / low > 1:
                return low * (high / low) ** share
            return low + (high - low) * share
        seen += count
    return bounds(len(counts) - 1)[0]


def _bounds(options: Any) -> Any:
    """index -> (lower, upper) of a bucket, per Cloud Monitoring's BucketOptions."""
    if "exponential_buckets" in options:
        exp = options.exponential_buckets
        n, growth, scale = exp.num_finite_buckets, exp.growth_factor, exp.scale
        edges = [scale * growth**i for i in range(n + 1)]
    elif "linear_buckets" in options:
        lin = options.linear_buckets
        edges = [lin.offset + lin.width * i for i in range(lin.num_finite_buckets + 1)]
    else:
        edges = list(options.explicit_buckets.bounds)

    def bounds(index: int) -> tuple[float, float]:
        if index == 0:
            return 0.0, edges[0]
        if index > len(edges) - 1:
            return edges[-1], math.inf
        return edges[index - 1], edges[index]

    return bounds


def _count(series: Any) -> int:
    return sum(int(point.value.int64_value) for point in series.points)


def _stamp(seconds: float) -> Any:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
