"""CloudWatch ``GetMetricStatistics`` with ``ExtendedStatistics`` (``p99`` ...).

moto accepts ExtendedStatistics and ignores them, so a promotion gate asking for
the p99 of ``ModelLatency`` would get no data. This handler answers requests
with ExtendedStatistics itself (nearest-rank percentiles of the raw datapoints,
per period); requests with plain Statistics only go to moto unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from moto.cloudwatch.exceptions import InvalidParameterValue
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from cloudeploy.testing.sagemaker import backends

_ORIGINAL = CloudWatchResponse.get_metric_statistics
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")
_PLAIN = {
    "Sum": sum,
    "Average": lambda v: sum(v) / len(v),
    "Minimum": min,
    "Maximum": max,
    "SampleCount": lambda v: float(len(v)),
}


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def percentile(values: list[float], rank: float) -> float:
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return ordered[index]


def get_metric_statistics(self) -> ActionResult:
    extended = self._get_param("ExtendedStatistics") or []
    if not extended:
        return _ORIGINAL(self)
    for name in extended:
        if not _PERCENTILE.match(name):
            raise InvalidParameterValue(
                f"The value {name} for parameter ExtendedStatistics is not supported."
            )
    metric = self._get_param("MetricName")
    wanted = {(d["Name"], d["Value"]) for d in self._get_param("Dimensions", [])}
    start = _naive(self._get_param("StartTime")).replace(microsecond=0)
    end = _naive(self._get_param("EndTime")).replace(microsecond=0)
    period = dt.timedelta(seconds=self._get_int_param("Period"))
    buckets: dict[int, list[float]] = {}
    for datum in backends.cloudwatch(self.current_account, self.region).metric_data:
        if datum.namespace != self._get_param("Namespace") or datum.name != metric:
            continue
        if not hasattr(datum, "value") or not wanted <= {
            (d.name, d.value) for d in datum.dimensions
        }:
            continue
        timestamp = _naive(datum.timestamp)
        if start <= timestamp < end:
            buckets.setdefault(int((timestamp - start) / period), []).append(float(datum.value))
    datapoints = []
    for index, values in sorted(buckets.items()):
        point = {
            "Timestamp": start + index * period,
            "ExtendedStatistics": {name: percentile(values, float(name[1:])) for name in extended},
        }
        for statistic in self._get_param("Statistics", []):
            point[statistic] = _PLAIN[statistic](values)
        datapoints.append(point)
    return ActionResult({"Label": metric, "Datapoints": datapoints})
