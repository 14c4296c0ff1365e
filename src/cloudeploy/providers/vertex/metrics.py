"""A deployed model's gate metrics, read from Cloud Monitoring.

Vertex AI publishes, per deployed model of an endpoint (resource type
``aiplatform.googleapis.com/Endpoint``, metric label ``deployed_model_id``),
``prediction_count``, ``error_count`` and the ``prediction_latencies``
distribution. :func:`version_metrics` sums them over one window, aligned to a
single period that covers it, and estimates p99 from the distribution's
buckets. Only 5xx-class errors count: a 4xx is the caller's fault, not the
version's.
"""

from __future__ import annotations

import math
from typing import Any

from cloudeploy.providers.base import VersionMetrics

PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = PREFIX + "prediction_count"
ERROR_COUNT = PREFIX + "error_count"
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
) -> VersionMetrics:
    """Requests, 5xx errors and p99 latency (ms) of one deployed model in ``(since, until]``."""
    from google.cloud.monitoring_v3 import Aggregation

    def series(metric_type: str) -> list[Any]:
        return list(
            client.list_time_series(
                request={
                    "name": f"projects/{project}",
                    "filter": (
                        f'metric.type = "{metric_type}" AND resource.type = "{RESOURCE_TYPE}" '
                        f'AND resource.labels.endpoint_id = "{endpoint_id}" '
                        f'AND metric.labels.deployed_model_id = "{deployed_model_id}"'
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

    requests = sum(_count(s) for s in series(PREDICTION_COUNT))
    errors = sum(
        _count(s)
        for s in series(ERROR_COUNT)
        if str(s.metric.labels.get("response_code", "5")).startswith("5")
    )
    distributions = [
        p.value.distribution_value for s in series(PREDICTION_LATENCIES) for p in s.points
    ]
    return VersionMetrics(
        version=version,
        requests=requests,
        errors=errors,
        p99_ms=percentile(distributions, 0.99),
        window_start=since,
        window_end=until,
    )


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
