"""Request-response logging in the emulator, through the real SDKs only.

The endpoint's logging config goes in and out through google-cloud-aiplatform;
the logged rows come back through google-cloud-bigquery's ``Client``. One
endpoint with one deployed model serves the module; each test that predicts
first points the endpoint's logging at a table of its own, so tests see only
their own rows whatever order they run in.
"""

from __future__ import annotations

import json
import uuid

import pytest
from google.api_core import exceptions

from tests.vertex.conftest import BUCKET, deploy_prebuilt, instances, sdk_session

LOGGING_MASK = "predict_request_response_logging_config"


@pytest.fixture(scope="module")
def endpoint(vertex_emulator_session, tmp_path_factory):
    with sdk_session(vertex_emulator_session):
        yield deploy_prebuilt(tmp_path_factory, "logged")


@pytest.fixture(scope="module")
def bigquery(vertex_emulator_session):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    emulator = vertex_emulator_session
    return bigquery.Client(
        project=emulator.project,
        credentials=AnonymousCredentials(),
        client_options={
            "api_endpoint": emulator.profile_settings(bucket=BUCKET)["bigquery_endpoint"]
        },
    )


def set_logging(client, name, *, enabled=True, rate=1.0, uri=None):
    """Update endpoint ``name``'s logging config with an ``EndpointServiceClient``; returns the Endpoint."""
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import field_mask_pb2

    resource = types.Endpoint(
        name=name,
        predict_request_response_logging_config=types.PredictRequestResponseLoggingConfig(
            enabled=enabled,
            sampling_rate=rate,
            bigquery_destination=types.BigQueryDestination(output_uri=uri or ""),
        ),
    )
    return client.update_endpoint(
        endpoint=resource, update_mask=field_mask_pb2.FieldMask(paths=[LOGGING_MASK])
    )


def own_table(endpoint, project, rate=1.0) -> str:
    """Point the endpoint's logging at a fresh table; returns ``project.dataset.table``."""
    table = f"{project}.logs.t_{uuid.uuid4().hex[:12]}"
    set_logging(endpoint.api_client, endpoint.resource_name, rate=rate, uri=f"bq://{table}")
    return table


def test_logging_config_given_at_create_round_trips_through_the_sdk(
    endpoint, vertex_emulator_session
):
    from google.cloud import aiplatform

    uri = f"bq://{vertex_emulator_session.project}.audit.predictions"
    created = aiplatform.Endpoint.create(
        display_name="with-logging",
        enable_request_response_logging=True,
        request_response_logging_sampling_rate=0.25,
        request_response_logging_bq_destination_table=uri,
    )
    config = aiplatform.Endpoint(
        created.resource_name
    ).gca_resource.predict_request_response_logging_config
    assert (config.enabled, config.sampling_rate, config.bigquery_destination.output_uri) == (
        True,
        0.25,
        uri,
    )


def test_a_project_only_destination_becomes_the_documented_default_table(
    endpoint, vertex_emulator_session
):
    project = vertex_emulator_session.project
    updated = set_logging(
        endpoint.api_client, endpoint.resource_name, rate=0.5, uri=f"bq://{project}"
    )
    endpoint_id = endpoint.resource_name.rsplit("/", 1)[-1]
    expected = f"bq://{project}.logging_logged_{endpoint_id}.request_response_logging"
    assert (
        updated.predict_request_response_logging_config.bigquery_destination.output_uri == expected
    )


def test_the_update_mask_changes_the_logging_config(endpoint, vertex_emulator_session):
    from google.cloud import aiplatform

    client, name = endpoint.api_client, endpoint.resource_name
    uri = f"bq://{vertex_emulator_session.project}.a.b"
    set_logging(client, name, rate=0.75, uri=uri)
    set_logging(client, name, enabled=False, rate=0.1, uri=uri)
    config = aiplatform.Endpoint(
        endpoint.resource_name
    ).gca_resource.predict_request_response_logging_config
    assert (config.enabled, round(config.sampling_rate, 6)) == (False, 0.1)


def test_a_sampling_rate_above_one_is_refused(endpoint):
    with pytest.raises(exceptions.BadRequest, match="sampling_rate"):
        set_logging(endpoint.api_client, endpoint.resource_name, rate=1.5)


def test_logging_creates_the_table_with_the_documented_columns(
    endpoint, bigquery, vertex_emulator_session
):
    table = bigquery.get_table(own_table(endpoint, vertex_emulator_session.project))
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        ("endpoint", "STRING", "NULLABLE"),
        ("deployed_model_id", "STRING", "NULLABLE"),
        ("logging_time", "TIMESTAMP", "NULLABLE"),
        ("request_id", "NUMERIC", "NULLABLE"),
        ("request_payload", "STRING", "REPEATED"),
        ("response_payload", "STRING", "REPEATED"),
    ]


def test_each_predict_call_becomes_a_row_with_its_instances_and_predictions(
    endpoint, bigquery, vertex_emulator_session
):
    import datetime as dt

    table = own_table(endpoint, vertex_emulator_session.project)
    before = dt.datetime.now(dt.UTC)
    answer = endpoint.predict(instances=instances(3))
    rows = list(bigquery.list_rows(table))
    assert len(rows) == 1
    row = rows[0]
    assert row["endpoint"] == endpoint.resource_name
    assert row["deployed_model_id"] == answer.deployed_model_id
    assert before <= row["logging_time"] <= dt.datetime.now(dt.UTC)
    assert row["request_id"] > 0
    assert [json.loads(item) for item in row["request_payload"]] == instances(3)
    assert [json.loads(item) for item in row["response_payload"]] == answer.predictions


def test_rows_are_read_page_by_page_in_the_order_they_were_logged(
    endpoint, bigquery, vertex_emulator_session
):
    table = own_table(endpoint, vertex_emulator_session.project)
    sent = [instances(6)[i : i + 1] for i in range(5)]
    for batch in sent:
        endpoint.predict(instances=batch)
    pages = list(bigquery.list_rows(table, page_size=2).pages)
    assert [len(list(page)) for page in pages] == [2, 2, 1]
    rows = list(bigquery.list_rows(table, page_size=2))
    assert [[json.loads(i) for i in row["request_payload"]] for row in rows] == sent


def test_a_sampling_rate_of_one_half_logs_about_half_the_calls(
    endpoint, bigquery, vertex_emulator_session
):
    table = own_table(endpoint, vertex_emulator_session.project, rate=0.5)
    row = instances(1)
    for _ in range(100):
        endpoint.predict(instances=row)
    assert 30 <= bigquery.get_table(table).num_rows <= 70


def test_disabled_logging_logs_nothing(endpoint, bigquery, vertex_emulator_session):
    table = own_table(endpoint, vertex_emulator_session.project)
    set_logging(endpoint.api_client, endpoint.resource_name, enabled=False, uri=f"bq://{table}")
    endpoint.predict(instances=instances(2))
    assert list(bigquery.list_rows(table)) == []


def test_a_monitoring_job_turns_logging_on_at_its_sampling_rate(endpoint):
    from google.cloud import aiplatform
    from google.cloud.aiplatform import model_monitoring

    set_logging(endpoint.api_client, endpoint.resource_name, enabled=False)
    job = aiplatform.ModelDeploymentMonitoringJob.create(
        display_name="watch",
        endpoint=endpoint,
        objective_configs=model_monitoring.ObjectiveConfig(
            drift_detection_config=model_monitoring.DriftDetectionConfig(
                drift_thresholds={"a": 0.2}
            )
        ),
        logging_sampling_strategy=model_monitoring.RandomSampleConfig(sample_rate=0.4),
        schedule_config=model_monitoring.ScheduleConfig(monitor_interval=1),
        alert_config=model_monitoring.EmailAlertConfig(user_emails=["ml-team@example.com"]),
    )
    try:
        config = aiplatform.Endpoint(
            endpoint.resource_name
        ).gca_resource.predict_request_response_logging_config
        assert (config.enabled, round(config.sampling_rate, 6)) == (True, 0.4)
    finally:
        job.delete()


def test_an_unknown_table_is_not_found(bigquery, vertex_emulator_session):
    with pytest.raises(exceptions.NotFound, match="nothing_here"):
        bigquery.get_table(f"{vertex_emulator_session.project}.logs.nothing_here")
