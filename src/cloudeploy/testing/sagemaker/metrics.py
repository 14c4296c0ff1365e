"""CloudWatch metrics for invocations, and evaluating the alarms that watch them.

Each invocation records, in namespace ``AWS/SageMaker`` with dimensions
``EndpointName`` and ``VariantName``, what the service documents for endpoint
invocations:

- ``Invocations``: 1;
- ``Invocation4XXErrors`` / ``Invocation5XXErrors``: 1 when the *container*
  answered 4xx / 5xx, else 0 (the caller saw a ``ModelError`` either way);
- ``InvocationModelErrors``: 1 for any invocation without a 2xx from the
  container: 4xx/5xx, but also a broken connection or a timeout, which have no
  container status (``status=0``) and so count in neither of the two above;
- ``ModelLatency`` and ``OverheadLatency``: microseconds, the time spent
  waiting for the container and the rest of the call.

:func:`alarms_in_alarm` evaluates the rollback alarms of a guarded update on
these (see ``alarms``), so that it rolls back on real data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cloudeploy.testing.sagemaker import alarms, backends

NAMESPACE = "AWS/SageMaker"


def record_invocation(
    account: str,
    region: str,
    endpoint: str,
    variant: str,
    *,
    status: int,
    latency_us: float,
    overhead_us: float = 0.0,
) -> None:
    """One InvokeEndpoint call; ``status`` is the container's HTTP status, 0 when it gave none."""
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint},
        {"Name": "VariantName", "Value": variant},
    ]
    # moto keeps metric timestamps as naive UTC; an aware one breaks its comparisons.
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    values = {
        "Invocations": (1.0, "None"),
        "Invocation4XXErrors": (1.0 if 400 <= status < 500 else 0.0, "None"),
        "Invocation5XXErrors": (1.0 if 500 <= status < 600 else 0.0, "None"),
        "InvocationModelErrors": (0.0 if 200 <= status < 300 else 1.0, "None"),
        "ModelLatency": (float(latency_us), "Microseconds"),
        "OverheadLatency": (max(0.0, float(overhead_us)), "Microseconds"),
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
