"""Monitoring on SageMaker against the emulation: S3 data capture, CloudWatch metrics and alarms.

One endpoint serves most of the module (``mon``, v1 deployed with the training
baseline, monitoring configured once). Each test sends its own traffic and
scores exactly the window it sent it in.

The alarm tests watch a second endpoint (``mon-alarms``) whose story runs once,
in order, before any of them looks: unshifted traffic and a pass, then shifted
traffic and a pass. An alarm takes the Maximum over an hour, so a shifted pass
keeps its features' alarms in ALARM for the rest of the module; a separate
endpoint keeps that from leaking into the other tests. What the tests see comes
from boto3 only: DescribeAlarms, and an SQS queue subscribed to the monitor's
SNS topic.
"""

from __future__ import annotations

import json
import time

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.monitoring import MonitorSpec, configure, monitor, status
from tests.monitoring.webhook import WebhookReceiver
from tests.monitoring.workload import SHIFTED, fitted_model, send, serving_rows, training_data

ENDPOINT = "mon"
ALARMED = "mon-alarms"
SHIFTED_NAMES = sorted(f"x{i}" for i in SHIFTED)
ALL_NAMES = ["x0", "x1", "x2", "x3"]
EMAIL = "ml-team@example.com"


@pytest.fixture(scope="module")
def sagemaker(_sagemaker_emulator_session, tmp_path_factory):
    from cloudeploy.providers.sagemaker import SageMakerProvider

    emulation = _sagemaker_emulator_session
    emulation.reset()
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker",
                                         settings=emulation.profile_settings()))
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(), ENDPOINT, model_name="m", provider=provider, baseline=X)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLOUDEPLOY_HOME", str(tmp_path_factory.mktemp("monitoring-sagemaker")))
        configured = configure(ENDPOINT, MonitorSpec(alert_emails=(EMAIL,)), provider=provider)
        yield provider, configured
    emulation.reset()


@pytest.fixture
def provider(sagemaker):
    return sagemaker[0]


def run_window(provider, rows, webhook_url=None, endpoint=ENDPOINT):
    start = time.time()
    send(provider, endpoint, rows)
    end = time.time() + 0.01
    return monitor(endpoint, MonitorSpec(window=end - start, webhook_url=webhook_url), provider=provider, now=end)


def alarm_name(feature: str) -> str:
    """The skew alarm cloudeploy names for ``feature`` of v1 on the alarm endpoint."""
    return f"cloudeploy-{ALARMED}-v1-skew-{feature}"


def feature_states(cloudwatch, alarm_names) -> dict[str, str]:
    """Feature -> StateValue of the named alarms, as DescribeAlarms reports them."""
    alarms = cloudwatch.describe_alarms(AlarmNames=alarm_names)["MetricAlarms"]
    return {next(d["Value"] for d in a["Dimensions"] if d["Name"] == "Feature"): a["StateValue"] for a in alarms}


def drain(sqs, queue_url) -> list[dict]:
    """The CloudWatch notifications waiting in the queue (the ``Message`` of each SNS envelope)."""
    notifications = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            notifications.append(json.loads(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return notifications


@pytest.fixture(scope="module")
def alarm_story(sagemaker, sagemaker_emulator_session):
    """Unshifted then shifted traffic on ``mon-alarms``: alarm states and notifications after each pass."""
    provider, _ = sagemaker
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(), ALARMED, model_name="m-alarms", provider=provider, baseline=X)
    configured = configure(ALARMED, MonitorSpec(alert_emails=(EMAIL,)), provider=provider)
    sqs, sns = sagemaker_emulator_session.client("sqs"), provider.clients("sns")
    queue_url = sqs.create_queue(QueueName="monitor-alerts")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    queue_arn = attributes["QueueArn"]
    sns.subscribe(TopicArn=configured["sns_topic"], Protocol="sqs", Endpoint=queue_arn)
    cloudwatch = provider.clients.cloudwatch
    story = {}
    for phase, shifted in (("unshifted", ()), ("shifted", SHIFTED)):
        run = run_window(provider, serving_rows(200, shifted=shifted, seed=7), endpoint=ALARMED)
        story[phase] = {"states": feature_states(cloudwatch, run.published["alarms"]),
                        "notifications": drain(sqs, queue_url)}
    return story


def test_configure_turns_data_capture_on(sagemaker):
    provider, _ = sagemaker
    sm = provider.clients.sagemaker
    config_name = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    capture = sm.describe_endpoint_config(EndpointConfigName=config_name)["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 100


def test_configure_makes_one_alarm_per_feature_that_notifies_the_alert_emails(sagemaker):
    provider, configured = sagemaker
    alarms = provider.clients.cloudwatch.describe_alarms(AlarmNames=configured["alarms"])["MetricAlarms"]
    assert sorted(d["Value"] for a in alarms for d in a["Dimensions"] if d["Name"] == "Feature") == \
        ["x0", "x1", "x2", "x3"]
    assert {(a["Threshold"], a["ComparisonOperator"]) for a in alarms} == {(0.3, "GreaterThanThreshold")}
    assert {tuple(a["AlarmActions"]) for a in alarms} == {(configured["sns_topic"],)}
    sns = provider.clients("sns")
    subscribers = sns.list_subscriptions_by_topic(TopicArn=configured["sns_topic"])["Subscriptions"]
    assert [s["Endpoint"] for s in subscribers] == [EMAIL]


def test_unshifted_traffic_raises_no_alert(provider):
    with WebhookReceiver() as webhook:
        run = run_window(provider, serving_rows(200), webhook.url)
    assert run.result.serving_rows == 200
    assert run.breached == []
    assert webhook.bodies == []


def test_shifted_traffic_alerts_exactly_the_shifted_features(provider):
    with WebhookReceiver() as webhook:
        run = run_window(provider, serving_rows(200, shifted=SHIFTED), webhook.url)
    assert sorted(run.breached) == SHIFTED_NAMES
    assert webhook.breached_names() == [SHIFTED_NAMES]


def test_unshifted_traffic_leaves_every_feature_alarm_ok(alarm_story):
    assert alarm_story["unshifted"]["states"] == dict.fromkeys(ALL_NAMES, "OK")


def test_unshifted_traffic_notifies_nobody(alarm_story):
    assert alarm_story["unshifted"]["notifications"] == []


def test_shifted_traffic_puts_exactly_the_shifted_features_alarms_in_alarm(alarm_story):
    states = alarm_story["shifted"]["states"]
    assert sorted(name for name, state in states.items() if state == "ALARM") == SHIFTED_NAMES
    assert {state for name, state in states.items() if name not in SHIFTED_NAMES} == {"OK"}


def test_shifted_traffic_sends_one_alarm_notification_per_shifted_feature(alarm_story):
    notifications = alarm_story["shifted"]["notifications"]
    assert sorted(n["AlarmName"] for n in notifications) == [alarm_name(f) for f in SHIFTED_NAMES]
    assert {(n["NewStateValue"], n["OldStateValue"]) for n in notifications} == {("ALARM", "OK")}
    assert {n["Trigger"]["Threshold"] for n in notifications} == {0.3}
    features = [d["value"] for n in notifications for d in n["Trigger"]["Dimensions"] if d["name"] == "Feature"]
    assert sorted(features) == SHIFTED_NAMES


def test_status_reports_the_alarm_states(sagemaker, alarm_story):
    provider, _ = sagemaker
    data = status(ALARMED, provider=provider)
    assert data["alarms_in_alarm"] == [alarm_name(f) for f in SHIFTED_NAMES]
    assert sorted(data["alarms"].values()) == ["ALARM", "ALARM", "OK", "OK"]


def test_status_reports_capture_and_alarms(provider):
    data = status(ENDPOINT, provider=provider)
    assert data["configured"] is True
    assert data["data_capture"]["EnableCapture"] is True
    assert len(data["alarms"]) == 4


def test_a_sensitive_pass_publishes_severities_against_alarms_at_one(provider):
    start = time.time()
    send(provider, ENDPOINT, serving_rows(200, shifted=SHIFTED, seed=8))
    end = time.time() + 0.01
    spec = MonitorSpec(window=end - start, preset="sensitive")
    run = monitor(ENDPOINT, spec, provider=provider, now=end, alert=False)
    assert {f.metric for f in run.result.features} == {"wasserstein"}
    assert sorted(run.breached) == SHIFTED_NAMES
    cloudwatch = provider.clients.cloudwatch
    alarms = cloudwatch.describe_alarms(AlarmNames=run.published["alarms"])["MetricAlarms"]
    assert {(a["Threshold"], a["ComparisonOperator"]) for a in alarms} == {(1.0, "GreaterThanThreshold")}
    states = feature_states(cloudwatch, run.published["alarms"])
    assert sorted(name for name, state in states.items() if state == "ALARM") == SHIFTED_NAMES


def test_a_pass_reports_outlier_share_and_attribution_drift_from_the_package(provider):
    run = run_window(provider, serving_rows(120, seed=9))
    assert run.result.outliers["rows"] == 120 and not run.outliers_breached
    attributions = run.result.attributions
    assert attributions["method"] == "linear" and attributions["rows"] == 120
    assert attributions["breached"] == []
