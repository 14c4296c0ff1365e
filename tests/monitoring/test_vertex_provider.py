"""Monitoring on Vertex AI against the emulator: the model deployment monitoring job, and
client-side numbers from a capture export.

The emulator stores monitoring jobs but does not log requests, so the export
here is written by the test from the very rows it sent to the endpoint, in
cloudeploy's capture format (what an export of Vertex AI's request-response
logging is converted to).
"""

from __future__ import annotations

import time
import uuid

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring import MonitorSpec, configure, monitor, status
from tests.monitoring.conftest import capture_record, write_capture
from tests.monitoring.webhook import WebhookReceiver
from tests.monitoring.workload import SHIFTED, fitted_model, serving_rows, training_data

ENDPOINT = "mon"
SHIFTED_NAMES = sorted(f"x{i}" for i in SHIFTED)
FEATURES = ["x0", "x1", "x2", "x3"]


@pytest.fixture(scope="module")
def vertex(_vertex_emulator_session):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = _vertex_emulator_session
    emulator.reset()
    provider = VertexProvider(Profile(name="emulator", provider="vertex",
                                      settings=emulator.profile_settings(bucket="monitoring")))
    X, _ = training_data()
    cloudeploy.deploy(fitted_model(), ENDPOINT, model_name="m", provider=provider, baseline=X)
    yield provider
    emulator.reset()


@pytest.fixture
def provider(vertex, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))
    return vertex


def the_job(provider):
    jobs = provider.clients.jobs.list_model_deployment_monitoring_jobs(parent=provider.settings.parent)
    return next(job for job in jobs if job.endpoint.endswith(f"/endpoints/{ENDPOINT}"))


def test_configure_creates_the_monitoring_job_with_thresholds_sampling_interval_and_emails(provider):
    spec = MonitorSpec(skew_thresholds={"x1": 0.2}, drift_thresholds={"x2": 0.1}, sample_rate=0.5,
                       interval="2h", alert_emails=("ml@example.com",), training_data="gs://monitoring/train.csv")
    configure(ENDPOINT, spec, provider=provider)
    job = the_job(provider)
    objective = job.model_deployment_monitoring_objective_configs[0].objective_config
    skew = objective.training_prediction_skew_detection_config.skew_thresholds
    drift = objective.prediction_drift_detection_config.drift_thresholds
    assert {name: round(t.value, 6) for name, t in skew.items()} == {"x0": 0.3, "x1": 0.2, "x2": 0.3, "x3": 0.3}
    assert round(drift["x2"].value, 6) == 0.1
    assert list(objective.training_dataset.gcs_source.uris) == ["gs://monitoring/train.csv"]
    assert job.logging_sampling_strategy.random_sample_config.sample_rate == 0.5
    assert job.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 7200
    assert list(job.model_monitoring_alert_config.email_alert_config.user_emails) == ["ml@example.com"]


def test_configuring_again_updates_the_one_job(provider):
    configure(ENDPOINT, MonitorSpec(training_data="gs://monitoring/train.csv"), provider=provider)
    configure(ENDPOINT, MonitorSpec(default_threshold=0.25, training_data="gs://monitoring/train.csv"),
              provider=provider)
    jobs = list(provider.clients.jobs.list_model_deployment_monitoring_jobs(parent=provider.settings.parent))
    assert len(jobs) == 1
    skew = jobs[0].model_deployment_monitoring_objective_configs[0].objective_config
    assert round(skew.training_prediction_skew_detection_config.skew_thresholds["x0"].value, 6) == 0.25


def test_status_shows_the_running_job(provider):
    configure(ENDPOINT, MonitorSpec(training_data="gs://monitoring/train.csv"), provider=provider)
    assert status(ENDPOINT, provider=provider)["monitoring_job"]["state"] in ("JOB_STATE_PENDING",
                                                                             "JOB_STATE_RUNNING")


def test_run_without_an_export_says_where_the_captures_are(provider):
    with pytest.raises(ValidationError, match="--capture"):
        monitor(ENDPOINT, provider=provider)


def export(provider, rows, directory):
    """Send ``rows`` to the endpoint and write them as a capture export; returns the window end."""
    records = []
    for start in range(0, len(rows), 20):
        batch = rows[start:start + 20]
        predictions = provider.predict(ENDPOINT, batch).predictions
        records.append(capture_record(time.time(), FEATURES, batch, predictions=predictions))
    write_capture(directory / uuid.uuid4().hex, records)
    return time.time() + 0.01


@pytest.mark.parametrize(("shifted", "expected"), [((), []), (SHIFTED, SHIFTED_NAMES)],
                         ids=["unshifted-no-alert", "shifted-alerts-exactly-those"])
def test_client_side_numbers_from_an_export_alert_exactly_the_shifted_features(provider, tmp_path,
                                                                                 shifted, expected):
    start = time.time()
    end = export(provider, serving_rows(200, shifted=shifted), tmp_path)
    with WebhookReceiver() as webhook:
        run = monitor(ENDPOINT, MonitorSpec(window=end - start, webhook_url=webhook.url), provider=provider,
                      capture=next(tmp_path.iterdir()), now=end)
    assert sorted(run.breached) == expected
    assert webhook.breached_names() == ([expected] if expected else [])
