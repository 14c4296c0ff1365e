"""Model deployment monitoring, as the official sample sets it up.

Sample: vertex-ai-samples ``notebooks/official/model_monitoring/get_started_with_model_monitoring_custom.ipynb``:
deploy a model, build ``model_monitoring.SkewDetectionConfig`` /
``DriftDetectionConfig`` / ``ObjectiveConfig`` / ``RandomSampleConfig`` /
``ScheduleConfig`` / ``EmailAlertConfig``, ``aiplatform.ModelDeploymentMonitoringJob.create(...)``,
send predictions, read the logged requests from BigQuery with
``bigquery.Client``, then ``pause()`` and ``delete()``; the clean-up cell of
``model_monitoring/model_monitoring.ipynb`` removes
``model_deployment_monitoring_<endpoint id>.serving_predict`` and then the dataset
(``bq rm -f``).

Documented results: the job lists in ``bigquery_tables`` the table it logs serving
predictions to, ``bq://<project>.model_deployment_monitoring_<endpoint_id>.serving_predict``
(``ModelDeploymentMonitoringBigQueryTable``: log source SERVING, log type PREDICT),
which exists in BigQuery and receives the sampled predict requests; a second job
on the same endpoint is refused; pause/resume move the job between RUNNING and PAUSED.
"""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import PREBUILT_IMAGE, instances

CALLS = 20


@pytest.fixture(scope="module")
def endpoint(vertex, model_uri):
    from google.cloud import aiplatform

    model = aiplatform.Model.upload(
        display_name="churn", artifact_uri=model_uri, serving_container_image_uri=PREBUILT_IMAGE
    )
    return model.deploy(machine_type="n1-standard-4")


def monitoring_configs(vertex):
    from google.cloud.aiplatform import model_monitoring

    header = "x0,x1,x2,label\n"
    training = vertex.upload_text(
        "monitoring/train.csv", header + "".join(f"{a},{b},{c},1\n" for a, b, c in instances(20))
    )
    skew_config = model_monitoring.SkewDetectionConfig(
        data_source=training,
        data_format="csv",
        skew_thresholds={"x0": 0.3, "x1": 0.3},
        target_field="label",
    )
    drift_config = model_monitoring.DriftDetectionConfig(drift_thresholds={"x0": 0.3, "x1": 0.3})
    return {
        "objective_configs": model_monitoring.ObjectiveConfig(skew_config, drift_config),
        "logging_sampling_strategy": model_monitoring.RandomSampleConfig(sample_rate=0.5),
        "schedule_config": model_monitoring.ScheduleConfig(monitor_interval=1),
        "alert_config": model_monitoring.EmailAlertConfig(user_emails=["ml-team@example.com"]),
    }


@pytest.fixture(scope="module")
def job(vertex, endpoint):
    from google.cloud import aiplatform

    monitoring_job = aiplatform.ModelDeploymentMonitoringJob.create(
        display_name="churn-monitor",
        project=vertex.project,
        location=vertex.location,
        endpoint=endpoint,
        **monitoring_configs(vertex),
    )
    yield monitoring_job
    monitoring_job.delete()


def serving_table(vertex, endpoint) -> str:
    return f"{vertex.project}.model_deployment_monitoring_{endpoint.name}.serving_predict"


def test_the_job_lists_the_serving_predict_table_it_logs_to(job, endpoint, vertex):
    from google.cloud.aiplatform_v1.types import ModelDeploymentMonitoringBigQueryTable as Table

    (table,) = job.gca_resource.bigquery_tables
    assert table.bigquery_table_path == f"bq://{serving_table(vertex, endpoint)}"
    assert table.log_source == Table.LogSource.SERVING
    assert table.log_type == Table.LogType.PREDICT


def test_the_dataset_and_table_exist_in_bigquery(job, endpoint, vertex):
    client = vertex.bigquery()
    dataset = client.get_dataset(f"{vertex.project}.model_deployment_monitoring_{endpoint.name}")
    table = client.get_table(serving_table(vertex, endpoint))
    assert dataset.dataset_id == f"model_deployment_monitoring_{endpoint.name}"
    assert {f.name for f in table.schema} >= {"endpoint", "deployed_model_id", "logging_time"}


def test_sampled_predictions_are_read_back_from_serving_predict(job, endpoint, vertex):
    for _ in range(CALLS):
        endpoint.predict(instances=instances(2))
    rows = list(vertex.bigquery().list_rows(serving_table(vertex, endpoint)))
    (deployed,) = endpoint.list_models()
    assert 0 < len(rows) < CALLS  # sampled at 0.5
    assert {row["deployed_model_id"] for row in rows} == {deployed.id}
    assert [json.loads(x) for x in rows[0]["request_payload"]] == instances(2)


def test_the_job_runs_and_pauses_and_resumes(job):
    assert job.state.name in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")
    job.pause()
    assert job.state.name == "JOB_STATE_PAUSED"
    job.resume()
    assert job.state.name == "JOB_STATE_RUNNING"


def test_a_second_job_on_the_endpoint_is_refused(job, endpoint, vertex):
    from google.cloud import aiplatform

    with pytest.raises(exceptions.Conflict):
        aiplatform.ModelDeploymentMonitoringJob.create(
            display_name="again", endpoint=endpoint, **monitoring_configs(vertex)
        )


def test_the_notebooks_clean_up_removes_the_table_then_the_dataset(job, endpoint, vertex):
    """``bq rm -f model_deployment_monitoring_<id>.serving_predict``, then the dataset."""
    client = vertex.bigquery()
    dataset = f"{vertex.project}.model_deployment_monitoring_{endpoint.name}"
    with pytest.raises(exceptions.BadRequest, match="still in use"):
        client.delete_dataset(dataset)  # not empty yet
    client.delete_table(serving_table(vertex, endpoint))
    client.delete_dataset(dataset)
    with pytest.raises(exceptions.NotFound):
        client.get_dataset(dataset)
