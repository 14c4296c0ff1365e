"""CloudWatch handlers that evaluate alarms where a caller of the real service would see it.

- PutMetricData: moto stores the datapoints, then the alarms on that namespace
  and those metric names are evaluated (and notify on a state change);
- PutMetricAlarm: a new alarm starts INSUFFICIENT_DATA, an updated one keeps
  its state (moto resets both to OK), and it is evaluated at once;
- DescribeAlarms / DescribeAlarmsForMetric: alarms are evaluated before moto
  answers, so a state reflects the data up to the moment it is read;
- DescribeAlarmHistory, which moto lacks: the state updates (``alarm_history``).

Invocation metrics that the emulation records itself (``metrics``) are not
evaluated on every invocation, only when alarms are read or a guarded update
checks its rollback alarms.

:func:`install` wraps moto's handlers and adds the missing one, once per process.
"""

from __future__ import annotations

import threading
from typing import Any

from cloudeploy.testing.sagemaker import alarm_history, alarms, backends

_LOCK = threading.Lock()
_ORIGINALS: dict[str, Any] = {}


def put_metric_data(self):
    result = _ORIGINALS["put_metric_data"](self)
    names = {datum.get("MetricName") for datum in self._get_param("MetricData", [])}
    alarms.evaluate_for_metric(
        self.current_account, self.region, self._get_param("Namespace"), names
    )
    return result


def put_metric_alarm(self):
    stored = backends.cloudwatch(self.current_account, self.region).alarms
    name = self._get_param("AlarmName")
    with alarms.LOCK:
        previous = stored.get(name)
        result = _ORIGINALS["put_metric_alarm"](self)
        alarms.created(stored[name], previous)
    alarms.evaluate(self.current_account, self.region, stored[name])
    return result


def describe_alarms(self):
    alarms.evaluate_all(self.current_account, self.region)
    return _ORIGINALS["describe_alarms"](self)


def describe_alarms_for_metric(self):
    alarms.evaluate_for_metric(
        self.current_account,
        self.region,
        self._get_param("Namespace"),
        [self._get_param("MetricName")],
    )
    return _ORIGINALS["describe_alarms_for_metric"](self)


HANDLERS = ("put_metric_data", "put_metric_alarm", "describe_alarms", "describe_alarms_for_metric")


def install() -> None:
    """Wrap moto's CloudWatch handlers (idempotent)."""
    from moto.cloudwatch.responses import CloudWatchResponse

    with _LOCK:
        if _ORIGINALS:
            return
        for name in HANDLERS:
            _ORIGINALS[name] = getattr(CloudWatchResponse, name)
            setattr(CloudWatchResponse, name, globals()[name])
        CloudWatchResponse.describe_alarm_history = alarm_history.describe_alarm_history
