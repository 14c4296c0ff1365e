"""A variant's gate metrics, read from CloudWatch and, when on, from data capture.

SageMaker publishes per variant (namespace ``AWS/SageMaker``, dimensions
``EndpointName`` and ``VariantName``) one datapoint per invocation:
``Invocations``; ``Invocation4XXErrors`` and ``Invocation5XXErrors`` when the
container answered 4xx / 5xx; ``InvocationModelErrors`` for every invocation
without a 2xx from the container (those two, plus broken connections,
malformed answers and timeouts, which have no container status); and
``ModelLatency`` in microseconds. :func:`version_metrics` sums them over the
window and maps them to the error classes every provider reports:

- ``input_errors`` = ``Invocation4XXErrors`` (the server's own checks refused
  the request: cloudeploy's model server answers 4xx for nothing else);
- ``model_errors`` = ``Invocation5XXErrors`` + the errors without a container
  status (``InvocationModelErrors`` minus both), i.e. a crashed container too;
- ``timeouts`` stays 0: CloudWatch does not tell a timed-out invocation from a
  broken connection, so both count as model errors.

p50 and p99 are ``ModelLatency`` percentiles (ExtendedStatistics). When the
endpoint captures its answers (``DataCaptureConfig``), the variant's captured
predictions in the window give ``prediction_counts`` / ``prediction_values``;
``non_finite`` stays 0 (the model server answers a NaN with a 5xx, counted in
``model_errors``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from cloudeploy.providers.base import VersionMetrics
from cloudeploy.providers.sagemaker.capture import CaptureReader

NAMESPACE = "AWS/SageMaker"
#: Read in this order: datapoints still arriving during the reads can then only make a
#: class undercount, never make errors outnumber the Invocations read last.
COUNTS = ("InvocationModelErrors", "Invocation4XXErrors", "Invocation5XXErrors", "Invocations")


def version_metrics(
    cloudwatch: Any,
    *,
    endpoint: str,
    variant: str,
    since: float,
    until: float,
    capture: tuple[CaptureReader, str] | None = None,
) -> VersionMetrics:
    """``variant``'s metrics in ``[since, until]``; ``capture`` is (reader, DestinationS3Uri) when on."""
    start = dt.datetime.fromtimestamp(since, dt.UTC)
    # CloudWatch takes whole seconds and an exclusive end: round the end up.
    end = dt.datetime.fromtimestamp(math.ceil(max(until, since + 1)) + 1, dt.UTC)
    period = max(60, int(math.ceil((end - start).total_seconds() / 60)) * 60)
    query = {
        "Namespace": NAMESPACE,
        "Dimensions": [
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": variant},
        ],
        "StartTime": start,
        "EndTime": end,
        "Period": period,
    }
    sums = {
        metric: sum(
            point.get("Sum", 0.0)
            for point in cloudwatch.get_metric_statistics(
                MetricName=metric, Statistics=["Sum"], **query
            )["Datapoints"]
        )
        for metric in COUNTS
    }
    latency = cloudwatch.get_metric_statistics(
        MetricName="ModelLatency", ExtendedStatistics=["p50", "p99"], **query
    )["Datapoints"]
    requests = int(sums["Invocations"])
    # The window may reach a second into the future (whole seconds), so the reads above
    # can see a few more datapoints each; their order keeps the classes within requests.
    input_errors = int(sums["Invocation4XXErrors"])
    server_errors = int(sums["Invocation5XXErrors"])
    unanswered = max(0, int(sums["InvocationModelErrors"]) - input_errors - server_errors)
    model_errors = server_errors + unanswered
    counts, values = None, None
    if capture is not None:
        reader, destination = capture
        counts, values = reader.tally(
            destination, endpoint, variant, since=since, until=until
        ).result()
    return VersionMetrics(
        version=variant,
        requests=requests,
        errors=input_errors + model_errors,
        p99_ms=_percentile_ms(latency, "p99"),
        window_start=since,
        window_end=until,
        input_errors=input_errors,
        model_errors=model_errors,
        p50_ms=_percentile_ms(latency, "p50"),
        prediction_counts=counts,
        prediction_values=values,
    )


def _percentile_ms(points: list[dict[str, Any]], name: str) -> float | None:
    """The largest per-period percentile, in ms (ModelLatency is in microseconds)."""
    values = [p.get("ExtendedStatistics", {}).get(name) for p in points]
    values = [v for v in values if v is not None]
    return max(values) / 1000.0 if values else None
