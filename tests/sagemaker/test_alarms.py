"""CloudWatch alarm evaluation in the emulation, through boto3: states, reasons and SNS notifications.

The module shares one emulation and resets it only when done: every test
works in a namespace of its own, and gets its own SNS topic with an SQS queue subscribed
to it (moto delivers SNS to SQS in-process), so tests do not see each other.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid

import pytest

THRESHOLD = 1.0
DUE_S = 1.0  # a datapoint this far in the future counts only once that time has come


@pytest.fixture(scope="module")
def clients(sagemaker_emulator_session):
    emulation = sagemaker_emulator_session
    yield {name: emulation.client(name) for name in ("cloudwatch", "sns", "sqs")}
    emulation.reset()


@pytest.fixture
def cloudwatch(clients):
    return clients["cloudwatch"]


@pytest.fixture
def namespace():
    return f"test/{uuid.uuid4().hex[:12]}"


class Inbox:
    """An SNS topic and the CloudWatch notifications an SQS queue subscribed to it received."""

    def __init__(self, sns, sqs):
        self.sqs = sqs
        name = f"alarms-{uuid.uuid4().hex[:12]}"
        self.topic = sns.create_topic(Name=name)["TopicArn"]
        self.queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])

    def notifications(self) -> list[dict]:
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def inbox(clients):
    return Inbox(clients["sns"], clients["sqs"])


@pytest.fixture
def ok_inbox(clients):
    return Inbox(clients["sns"], clients["sqs"])


def put_alarm(cloudwatch, namespace, **overrides) -> str:
    request = {
        "AlarmName": f"{namespace}-alarm",
        "Namespace": namespace,
        "MetricName": "m",
        "Dimensions": [{"Name": "Feature", "Value": "x0"}],
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": THRESHOLD,
        "ComparisonOperator": "GreaterThanThreshold",
        **overrides,
    }
    cloudwatch.put_metric_alarm(**{k: v for k, v in request.items() if v is not None})
    return request["AlarmName"]


def put_data(cloudwatch, namespace, *values, seconds_ago=0.0, dimensions=None):
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "m",
                "Value": value,
                "Timestamp": when,
                "Dimensions": dimensions or [{"Name": "Feature", "Value": "x0"}],
            }
            for value in values
        ],
    )


def described(cloudwatch, name) -> dict:
    return cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def state(cloudwatch, name) -> str:
    return described(cloudwatch, name)["StateValue"]


# -- comparison and statistics ---------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GreaterThanThreshold", 2.0, "ALARM"),
        ("GreaterThanThreshold", 1.0, "OK"),
        ("GreaterThanOrEqualToThreshold", 1.0, "ALARM"),
        ("GreaterThanOrEqualToThreshold", 0.0, "OK"),
        ("LessThanThreshold", 0.0, "ALARM"),
        ("LessThanThreshold", 1.0, "OK"),
        ("LessThanOrEqualToThreshold", 1.0, "ALARM"),
        ("LessThanOrEqualToThreshold", 2.0, "OK"),
    ],
)
def test_comparison_operator_decides_the_state(cloudwatch, namespace, operator, value, expected):
    name = put_alarm(cloudwatch, namespace, ComparisonOperator=operator)
    put_data(cloudwatch, namespace, value)
    assert state(cloudwatch, name) == expected


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("Sum", 9.0), ("Average", 3.0), ("Minimum", 1.0), ("Maximum", 6.0), ("SampleCount", 3.0)],
)
def test_statistic_is_computed_over_the_period(cloudwatch, namespace, statistic, expected):
    name = put_alarm(cloudwatch, namespace, Statistic=statistic)
    put_data(cloudwatch, namespace, 1.0, 2.0, 6.0)
    assert json.loads(described(cloudwatch, name)["StateReasonData"])["recentDatapoints"] == [
        expected
    ]


def test_extended_statistic_is_a_percentile_of_the_period(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, Statistic=None, ExtendedStatistic="p50")
    put_data(cloudwatch, namespace, 1.0, 2.0, 6.0)
    assert json.loads(described(cloudwatch, name)["StateReasonData"])["recentDatapoints"] == [2.0]


def test_state_reason_names_the_datapoint_and_the_threshold(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, Threshold=0.3)
    put_data(cloudwatch, namespace, 0.62)
    reason = described(cloudwatch, name)["StateReason"]
    assert re.fullmatch(
        r"Threshold Crossed: 1 datapoint \[0\.62 \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)\] "
        r"was greater than the threshold \(0\.3\)\.",
        reason,
    )


# -- which datapoints count ------------------------------------------------------


def test_datapoints_with_other_dimensions_do_not_count(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    put_data(cloudwatch, namespace, 5.0, dimensions=[{"Name": "Feature", "Value": "x1"}])
    put_data(
        cloudwatch,
        namespace,
        5.0,
        dimensions=[{"Name": "Feature", "Value": "x0"}, {"Name": "Extra", "Value": "y"}],
    )
    assert state(cloudwatch, name) == "INSUFFICIENT_DATA"


def test_datapoints_older_than_the_evaluation_range_do_not_count(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=90)
    assert state(cloudwatch, name) == "INSUFFICIENT_DATA"


def test_m_out_of_n_breaching_periods_alarm(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, EvaluationPeriods=3, DatapointsToAlarm=2)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=150)
    put_data(cloudwatch, namespace, 0.0, seconds_ago=90)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=30)
    assert state(cloudwatch, name) == "ALARM"


def test_fewer_than_m_breaching_periods_are_ok(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, EvaluationPeriods=3, DatapointsToAlarm=2)
    put_data(cloudwatch, namespace, 0.0, seconds_ago=150)
    put_data(cloudwatch, namespace, 0.0, seconds_ago=90)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=30)
    assert state(cloudwatch, name) == "OK"


# -- missing data ----------------------------------------------------------------


def test_new_alarm_without_data_is_insufficient_data(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    assert state(cloudwatch, name) == "INSUFFICIENT_DATA"


def test_missing_data_keeps_a_state_set_by_hand(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    assert state(cloudwatch, name) == "ALARM"


@pytest.mark.parametrize(
    ("treatment", "expected"), [("breaching", "ALARM"), ("notBreaching", "OK")]
)
def test_missing_data_treated_as_a_datapoint(cloudwatch, namespace, treatment, expected):
    name = put_alarm(cloudwatch, namespace, TreatMissingData=treatment)
    assert state(cloudwatch, name) == expected


def test_missing_periods_are_left_out_when_treated_as_missing(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, EvaluationPeriods=3)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=30)
    assert state(cloudwatch, name) == "ALARM"


# -- actions ---------------------------------------------------------------------


def test_put_metric_data_notifies_the_alarm_actions(cloudwatch, namespace, inbox):
    name = put_alarm(cloudwatch, namespace, AlarmActions=[inbox.topic], AlarmDescription="too high")
    put_data(cloudwatch, namespace, 5.0)
    [notification] = inbox.notifications()
    assert (notification["AlarmName"], notification["AlarmDescription"]) == (name, "too high")
    assert (notification["OldStateValue"], notification["NewStateValue"]) == (
        "INSUFFICIENT_DATA",
        "ALARM",
    )
    assert notification["Trigger"]["Namespace"] == namespace
    assert notification["Trigger"]["Threshold"] == THRESHOLD
    assert notification["Trigger"]["Dimensions"] == [{"value": "x0", "name": "Feature"}]


def test_transition_to_ok_notifies_the_ok_actions(cloudwatch, namespace, inbox, ok_inbox):
    put_alarm(
        cloudwatch,
        namespace,
        Statistic="Average",
        AlarmActions=[inbox.topic],
        OKActions=[ok_inbox.topic],
    )
    put_data(cloudwatch, namespace, 5.0)
    put_data(cloudwatch, namespace, 0.0, 0.0, 0.0, 0.0)  # the average falls to 1.0
    assert [n["NewStateValue"] for n in inbox.notifications()] == ["ALARM"]
    assert [(n["OldStateValue"], n["NewStateValue"]) for n in ok_inbox.notifications()] == [
        ("ALARM", "OK")
    ]


def test_unchanged_state_sends_no_second_notification(cloudwatch, namespace, inbox):
    name = put_alarm(cloudwatch, namespace, AlarmActions=[inbox.topic])
    put_data(cloudwatch, namespace, 5.0)
    put_data(cloudwatch, namespace, 7.0)
    state(cloudwatch, name)
    assert len(inbox.notifications()) == 1


def test_disabled_actions_send_nothing(cloudwatch, namespace, inbox):
    name = put_alarm(cloudwatch, namespace, AlarmActions=[inbox.topic], ActionsEnabled=False)
    put_data(cloudwatch, namespace, 5.0)
    assert state(cloudwatch, name) == "ALARM"
    assert inbox.notifications() == []


def test_updating_an_alarm_keeps_its_state(cloudwatch, namespace, inbox):
    name = put_alarm(cloudwatch, namespace, AlarmActions=[inbox.topic])
    put_data(cloudwatch, namespace, 5.0)
    put_alarm(cloudwatch, namespace, AlarmActions=[inbox.topic], AlarmDescription="edited")
    assert state(cloudwatch, name) == "ALARM"
    assert len(inbox.notifications()) == 1


def test_describe_alarms_evaluates_datapoints_that_came_due_since_the_put(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=-DUE_S)  # not yet in the range when put
    time.sleep(DUE_S)
    assert state(cloudwatch, name) == "ALARM"


def test_describe_alarms_for_metric_evaluates_datapoints_that_came_due(cloudwatch, namespace):
    put_alarm(cloudwatch, namespace)
    put_data(cloudwatch, namespace, 5.0, seconds_ago=-DUE_S)
    time.sleep(DUE_S)
    alarms = cloudwatch.describe_alarms_for_metric(Namespace=namespace, MetricName="m")
    assert [a["StateValue"] for a in alarms["MetricAlarms"]] == ["ALARM"]


# -- history ---------------------------------------------------------------------


def test_state_change_is_in_the_alarm_history(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace, Statistic="Average")
    put_data(cloudwatch, namespace, 5.0)
    put_data(cloudwatch, namespace, 0.0, 0.0, 0.0, 0.0)
    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    assert [i["HistorySummary"] for i in items["AlarmHistoryItems"]] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]


def test_alarm_history_holds_the_new_state_and_its_reason(cloudwatch, namespace):
    name = put_alarm(cloudwatch, namespace)
    put_data(cloudwatch, namespace, 5.0)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    [item] = cloudwatch.describe_alarm_history(AlarmName=name, StartDate=since)["AlarmHistoryItems"]
    data = json.loads(item["HistoryData"])
    assert data["newState"]["stateValue"] == "ALARM"
    assert data["newState"]["stateReason"] == described(cloudwatch, name)["StateReason"]
