"""DescribeAlarmHistory from the state updates moto keeps on each alarm.

moto's ``Alarm.update_state`` appends the state being *left* (reason, reason
data, value, since when); this turns that list into CloudWatch's
``StateUpdate`` history items: "Alarm updated from OK to ALARM" at the moment
of the change, with ``HistoryData`` holding the old and new states as JSON.
Configuration updates and action items are not recorded.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult

from cloudeploy.testing.sagemaker import backends
from cloudeploy.testing.sagemaker.percentiles import _naive


def state_updates(alarm: Any) -> list[dict[str, Any]]:
    """The alarm's StateUpdate history items, oldest first."""
    states = [
        {"value": value, "reason": reason, "data": data, "since": since}
        for _kind, reason, data, value, since in alarm.history
    ]
    states.append(
        {
            "value": alarm.state_value,
            "reason": alarm.state_reason,
            "data": alarm.state_reason_data,
            "since": alarm.state_updated_timestamp,
        }
    )
    items = []
    for old, new in zip(states, states[1:], strict=False):
        new_state = {"stateValue": new["value"], "stateReason": new["reason"]}
        if new["data"] and new["data"] != "{}":
            new_state["stateReasonData"] = json.loads(new["data"])
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": new["since"],
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old['value']} to {new['value']}",
                "HistoryData": json.dumps(
                    {
                        "version": "1.0",
                        "oldState": {"stateValue": old["value"], "stateReason": old["reason"]},
                        "newState": new_state,
                    }
                ),
            }
        )
    return items


def describe_alarm_history(self):
    """The DescribeAlarmHistory handler: filters by AlarmName, HistoryItemType, StartDate/EndDate."""
    name, kind = self._get_param("AlarmName"), self._get_param("HistoryItemType")
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    stored = backends.cloudwatch(self.current_account, self.region).alarms
    items = [
        item
        for alarm in stored.values()
        if name in (None, alarm.name)
        for item in state_updates(alarm)
        if kind in (None, "StateUpdate")
        and (start is None or _naive(item["Timestamp"]) >= _naive(start))
        and (end is None or _naive(item["Timestamp"]) <= _naive(end))
    ]
    items.sort(
        key=lambda item: _naive(item["Timestamp"]),
        reverse=self._get_param("ScanBy") != "TimestampAscending",
    )
    limit = self._get_int_param("MaxRecords") or 100
    return ActionResult({"AlarmHistoryItems": items[:limit]})
