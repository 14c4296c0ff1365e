"""What a CloudWatch alarm does when its state changes: notify the SNS topics of its actions.

On a transition to ALARM, OK or INSUFFICIENT_DATA, an alarm with
``ActionsEnabled`` publishes to every SNS topic in ``AlarmActions``,
``OKActions`` or ``InsufficientDataActions`` respectively, through moto's SNS
backend, so subscribers get it as they would from AWS (an SQS queue
subscribed to the topic receives the SNS envelope whose ``Message`` is the
body below). The body is CloudWatch's JSON alarm notification: AlarmName,
AlarmDescription, AWSAccountId, NewStateValue, NewStateReason,
StateChangeTime, Region (its long name), AlarmArn, OldStateValue, the three
action lists and ``Trigger`` (MetricName, Namespace, StatisticType,
Statistic in capitals, Unit, Dimensions as ``{"value", "name"}``, Period,
EvaluationPeriods, DatapointsToAlarm, ComparisonOperator, Threshold,
TreatMissingData, EvaluateLowSampleCountPercentile).

Actions that are not SNS topics (Auto Scaling policies, EC2 and Lambda
actions) are not run; neither is a topic that does not exist (AWS records
that as a failed action in the alarm's history).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

_ACTIONS = {
    "ALARM": "alarm_actions",
    "OK": "ok_actions",
    "INSUFFICIENT_DATA": "insufficient_data_actions",
}
_SUBJECT_LIMIT = 100  # SNS refuses longer subjects


def run(account: str, region: str, alarm: Any, old_state: str) -> list[str]:
    """Publish ``alarm``'s notification to the SNS topics of its new state; the message ids."""
    if not alarm.actions_enabled:
        return []
    topics = [
        arn
        for arn in getattr(alarm, _ACTIONS[alarm.state_value]) or []
        if arn.startswith("arn:aws:sns:")
    ]
    if not topics:
        return []
    from moto.sns.exceptions import SNSException
    from moto.sns.models import sns_backends

    message = json.dumps(notification(account, region, alarm, old_state))
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_name(region)}'[:_SUBJECT_LIMIT]
    sent = []
    for arn in topics:
        topic_region, topic_account = arn.split(":")[3:5]
        try:
            sent.append(
                sns_backends[topic_account][topic_region].publish(message, arn=arn, subject=subject)
            )
        except SNSException:
            continue
    return sent


def notification(account: str, region: str, alarm: Any, old_state: str) -> dict[str, Any]:
    """CloudWatch's alarm notification body for ``alarm``'s current state."""
    extended = bool(alarm.extended_statistic)
    trigger: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "StatisticType": "ExtendedStatistic" if extended else "Statistic",
        **(
            {"ExtendedStatistic": alarm.extended_statistic}
            if extended
            else {"Statistic": (alarm.statistic or "").upper()}
        ),
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": int(alarm.period),
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": timestamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": timestamp(alarm.state_updated_timestamp),
        "Region": region_name(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions or []),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
        "Trigger": trigger,
    }


def timestamp(moment: dt.datetime) -> str:
    """CloudWatch's notification time format, ``2026-11-21T12:00:00.000+0000`` (UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


@functools.cache
def region_name(region: str) -> str:
    """The region's long name as notifications show it ("US East (N. Virginia)"), or its code."""
    from botocore.loaders import create_loader

    for partition in create_loader().load_data("endpoints")["partitions"]:
        found = partition.get("regions", {}).get(region)
        if found and found.get("description"):
            return found["description"]
    return region
