"""CloudWatch metrics for invocations, and evaluating the alarms that watch them.

Each invocation records, in namespace ``AWS/SageMaker`` with dimensions
``EndpointName`` and ``VariantName``: ``Invocations`` (1),
``Invocation4XXErrors`` / ``Invocation5XXErrors`` (0 or 1) and ``ModelLatency``
(microseconds). moto stores alarms but never evaluates them;
:func:`evaluate_alarms` does, for alarms on those metrics, so that a guarded
update can roll back on real data.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Iterable

from cloudeploy.testing.sagemaker import backends

NAMESPACE = "AWS/SageMaker"

_COMPARE = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def record_invocation(
    account: str, region: str, endpoint: str, variant: str, *, status: int, latency_us: float
) -> None:
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint},
        {"Name": "VariantName", "Value": variant},
    ]
    # moto keeps metric timestamps as naive UTC; an aware one breaks its comparisons.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = {
        "Invocations": (1.0, "None"),
        "Invocation4XXErrors": (1.0 if 400 <= status < 500 else 0.0, "None"),
        "Invocation5XXErrors": (1.0 if status >= 500 else 0.0, "None"),
        "ModelLatency": (float(latency_us), "Microseconds"),
    }
    backends.cloudwatch(account, region).put_metric_data(
        NAMESPACE,
        [
            {
                "MetricName": name,
                "Value": value,
                "Unit": unit,
                "Dimensions": dimensions,
                "Timestamp": now,
            }
            for name, (value, unit) in values.items()
        ],
    )


def _statistic(values: list[float], statistic: str) -> float:
    if statistic == "Sum":
        return sum(values)
    if statistic == "Average":
        return sum(values) / len(values)
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    return float(len(values))  # SampleCount


def evaluate_alarm(account: str, region: str, alarm) -> None:
    """Set ``alarm``'s state from the recorded datapoints of its metric.

    Only simple metric alarms on ``AWS/SageMaker`` are evaluated; with no
    datapoints in the window the state is left as it is (as with
    ``TreatMissingData=missing``).
    """
    compare = _COMPARE.get(alarm.comparison_operator)
    if alarm.namespace != NAMESPACE or compare is None or not alarm.statistic:
        return
    now = dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(seconds=int(alarm.period) * int(alarm.evaluation_periods))
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    values = []
    for datum in backends.cloudwatch(account, region).metric_data:
        if datum.namespace != NAMESPACE or datum.name != alarm.metric_name:
            continue
        if not wanted <= {(d.name, d.value) for d in datum.dimensions}:
            continue
        timestamp = datum.timestamp
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        if timestamp >= since and hasattr(datum, "value"):
            values.append(float(datum.value))
    if not values:
        return
    observed = _statistic(values, alarm.statistic)
    breaching = compare(observed, float(alarm.threshold))
    state = "ALARM" if breaching else "OK"
    if state != alarm.state_value:
        reason = (
            f"Threshold Crossed: {alarm.metric_name} {alarm.statistic} {observed:g} "
            f"{'breaches' if breaching else 'is within'} the threshold ({alarm.threshold:g})"
        )
        alarm.update_state(reason, "{}", state)


def alarms_in_alarm(account: str, region: str, names: Iterable[str]) -> list[str]:
    """Evaluate the named alarms and return those in state ALARM."""
    cloudwatch = backends.cloudwatch(account, region)
    firing = []
    for name in names:
        alarm = cloudwatch.alarms.get(name)
        if alarm is None:
            continue
        evaluate_alarm(account, region, alarm)
        if alarm.state_value == "ALARM":
            firing.append(name)
    return firing


def missing_alarms(account: str, region: str, names: Iterable[str]) -> list[str]:
    alarms = backends.cloudwatch(account, region).alarms
    return [name for name in names if name not in alarms]
