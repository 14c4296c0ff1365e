"""Monitoring on SageMaker against the emulation: S3 data capture, CloudWatch metrics and alarms.

One endpoint serves the module (``mon``, v1 deployed with the training
baseline, monitoring configured once). Each test sends its own traffic and
scores exactly the window it sent it in.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.monitoring import MonitorSpec, configure, monitor, status
from cloudeploy.monitoring.sagemaker import NAMESPACE
from tests.monitoring.webhook import WebhookReceiver
from tests.monitoring.workload import SHIFTED, fitted_model, send, serving_rows, training_data

ENDPOINT = "mon"
SHIFTED_NAMES = sorted(f"x{i}" for i in SHIFTED)
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


def run_window(provider, rows, webhook_url=None):
    start = time.time()
    send(provider, ENDPOINT, rows)
    end = time.time() + 0.01
    return monitor(ENDPOINT, MonitorSpec(window=end - start, webhook_url=webhook_url), provider=provider, now=end)


def published(provider, feature: str) -> float:
    """The largest ``feature_skew`` datapoint CloudWatch holds for ``feature`` in the last minutes."""
    now = dt.datetime.now(dt.UTC)
    answer = provider.clients.cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="feature_skew", StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=["Maximum"],
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "v1"},
                    {"Name": "Feature", "Value": feature}])
    return max(point["Maximum"] for point in answer["Datapoints"])


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


def test_published_metrics_cross_exactly_the_shifted_features_alarms(provider):
    run = run_window(provider, serving_rows(200, shifted=SHIFTED, seed=5))
    alarms = provider.clients.cloudwatch.describe_alarms(AlarmNames=run.published["alarms"])["MetricAlarms"]
    crossing = sorted(
        next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "Feature")
        for alarm in alarms
        if published(provider, next(d["Value"] for d in alarm["Dimensions"] if d["Name"] == "Feature"))
        > alarm["Threshold"]
    )
    assert crossing == SHIFTED_NAMES


def test_status_reports_capture_and_alarms(provider):
    data = status(ENDPOINT, provider=provider)
    assert data["configured"] is True
    assert data["data_capture"]["EnableCapture"] is True
    assert len(data["alarms"]) == 4
