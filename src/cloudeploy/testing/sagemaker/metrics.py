"""CloudWatch metrics for invocations, and evaluating the alarms that watch them.

Each invocation records, in namespace ``AWS/SageMaker`` with dimensions
``EndpointName`` and ``VariantName``: ``Invocations`` (1),
``Invocation4XXErrors`` / ``Invocation5XXErrors`` (0 or 1) and ``ModelLatency``
(microseconds). :func:`alarms_in_alarm` evaluates the rollback alarms of a
guarded update on these (see ``alarms``), so that it rolls back on real data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cloudeploy.testing.sagemaker import alarms, backends

NAMESPACE = "AWS/SageMaker"


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


def alarms_in_alarm(account: str, region: str, names: Iterable[str]) -> list[str]:
    """Evaluate the named alarms (see ``alarms``) and return those in state ALARM."""
    stored = backends.cloudwatch(account, region).alarms
    found = [stored[name] for name in names if name in stored]
    alarms.evaluate_many(account, region, found)
    return [alarm.name for alarm in found if alarm.state_value == "ALARM"]


def missing_alarms(account: str, region: str, names: Iterable[str]) -> list[str]:
    stored = backends.cloudwatch(account, region).alarms
    return [name for name in names if name not in stored]
