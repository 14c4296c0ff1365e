"""Model deployment monitoring jobs through the official SDK only.

One endpoint with one deployed model is shared by the module; each test makes
its own job and deletes it (an endpoint holds at most one job).
"""

from __future__ import annotations

import contextlib

import pytest
from google.api_core import exceptions

from tests.vertex.conftest import BUCKET, deploy_prebuilt, sdk_session


@pytest.fixture(scope="module")
def endpoint(vertex_emulator_session, tmp_path_factory):
    from google.cloud import aiplatform

    with sdk_session(vertex_emulator_session):
        endpoint = deploy_prebuilt(tmp_path_factory, "monitored")
        aiplatform.Endpoint.create(display_name="empty", endpoint_id="empty")
        yield endpoint


@pytest.fixture
def objective():
    from google.cloud.aiplatform import model_monitoring

    return model_monitoring.ObjectiveConfig(
        skew_detection_config=model_monitoring.SkewDetectionConfig(
            data_source=f"gs://{BUCKET}/train.csv",
            target_field="y",
            skew_thresholds={"a": 0.3},
            data_format="csv",
        ),
        drift_detection_config=model_monitoring.DriftDetectionConfig(
            drift_thresholds={"a": 0.2, "b": 0.25}
        ),
    )


@pytest.fixture
def create(endpoint, objective):
    """Create a monitoring job on the shared endpoint; deleted after the test."""
    from google.cloud import aiplatform
    from google.cloud.aiplatform import model_monitoring

    made = []

    def make(**kwargs):
        kwargs.setdefault("display_name", "drift-watch")
        kwargs.setdefault("endpoint", endpoint)
        kwargs.setdefault("objective_configs", objective)
        kwargs.setdefault(
            "logging_sampling_strategy", model_monitoring.RandomSampleConfig(sample_rate=0.5)
        )
        kwargs.setdefault("schedule_config", model_monitoring.ScheduleConfig(monitor_interval=2))
        kwargs.setdefault(
            "alert_config", model_monitoring.EmailAlertConfig(user_emails=["ml-team@example.com"])
        )
        job = aiplatform.ModelDeploymentMonitoringJob.create(**kwargs)
        made.append(job)
        return job

    yield make
    for job in made:
        with contextlib.suppress(exceptions.NotFound):
            job.delete()


def test_create_keeps_thresholds_sampling_schedule_and_emails(create):
    from google.cloud import aiplatform

    job = aiplatform.ModelDeploymentMonitoringJob(create().resource_name)
    gca = job.gca_resource
    config = gca.model_deployment_monitoring_objective_configs[0].objective_config
    assert config.training_prediction_skew_detection_config.skew_thresholds[
        "a"
    ].value == pytest.approx(0.3)
    assert config.prediction_drift_detection_config.drift_thresholds["b"].value == pytest.approx(
        0.25
    )
    assert gca.logging_sampling_strategy.random_sample_config.sample_rate == pytest.approx(0.5)
    assert gca.model_deployment_monitoring_schedule_config.monitor_interval.total_seconds() == 7200
    assert list(gca.model_monitoring_alert_config.email_alert_config.user_emails) == [
        "ml-team@example.com"
    ]


def test_new_job_runs_once_read(create):
    from google.cloud import aiplatform

    job = create()
    assert (
        job.gca_resource.state.name == "JOB_STATE_PENDING"
    )  # the reply to create, before any read
    assert (
        aiplatform.ModelDeploymentMonitoringJob(job.resource_name).state.name == "JOB_STATE_RUNNING"
    )


def test_list_returns_the_job(create):
    from google.cloud import aiplatform

    create(display_name="listed")
    assert [j.display_name for j in aiplatform.ModelDeploymentMonitoringJob.list()] == ["listed"]


def test_pause_then_resume(create):
    from google.cloud import aiplatform

    job = create()
    job.pause()
    assert (
        aiplatform.ModelDeploymentMonitoringJob(job.resource_name).state.name == "JOB_STATE_PAUSED"
    )
    job.resume()
    assert (
        aiplatform.ModelDeploymentMonitoringJob(job.resource_name).state.name == "JOB_STATE_RUNNING"
    )


def test_pausing_a_paused_job_is_400(create):
    job = create()
    job.pause()
    with pytest.raises(exceptions.BadRequest, match="already paused"):
        job.pause()


def test_delete_removes_the_job(create):
    from google.cloud import aiplatform

    job = create()
    job.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.ModelDeploymentMonitoringJob(job.resource_name)


def test_second_job_on_the_same_endpoint_is_409(create):
    create()
    with pytest.raises(exceptions.Conflict):
        create(display_name="again")


def test_empty_objective_list_is_400(endpoint):
    from google.cloud import aiplatform

    client = aiplatform.ModelDeploymentMonitoringJob._instantiate_client(location="us-central1")
    with pytest.raises(exceptions.BadRequest, match="objective"):
        client.create_model_deployment_monitoring_job(
            parent="projects/test-project/locations/us-central1",
            model_deployment_monitoring_job={
                "display_name": "nothing",
                "endpoint": endpoint.resource_name,
                "model_deployment_monitoring_schedule_config": {
                    "monitor_interval": {"seconds": 3600}
                },
                "logging_sampling_strategy": {"random_sample_config": {"sample_rate": 1.0}},
            },
        )


def test_threshold_above_1_is_400(create):
    from google.cloud.aiplatform import model_monitoring

    bad = model_monitoring.ObjectiveConfig(
        drift_detection_config=model_monitoring.DriftDetectionConfig(drift_thresholds={"a": 1.5})
    )
    with pytest.raises(exceptions.BadRequest, match="between 0 and 1"):
        create(objective_configs=bad)


def test_sample_rate_above_1_is_400(create):
    from google.cloud.aiplatform import model_monitoring

    with pytest.raises(exceptions.BadRequest, match="sample_rate"):
        create(logging_sampling_strategy=model_monitoring.RandomSampleConfig(sample_rate=2.0))


def test_malformed_alert_email_is_400(create):
    from google.cloud.aiplatform import model_monitoring

    with pytest.raises(exceptions.BadRequest, match="e-mail"):
        create(alert_config=model_monitoring.EmailAlertConfig(user_emails=["not-an-address"]))


def test_endpoint_without_deployed_models_is_400(create):
    from google.cloud import aiplatform

    with pytest.raises(exceptions.BadRequest, match="no deployed models"):
        create(endpoint=aiplatform.Endpoint("empty"))
