"""Batch prediction jobs through the official SDK only.

The SDK sleeps ``jobs._JOB_WAIT_TIME`` (5 s) between polls; the emulator moves a
job on at each poll, so the tests shorten that sleep.
"""

from __future__ import annotations

import json

import pytest

from tests.vertex.conftest import BUCKET, fitted_model, instances


@pytest.fixture
def fast_polls(aiplatform, monkeypatch):
    monkeypatch.setattr(aiplatform.jobs, "_JOB_WAIT_TIME", 0.1)
    return aiplatform


@pytest.fixture
def model(upload):
    return upload(seed=0)


def write(name: str, text: str) -> str:
    from google.cloud import storage

    storage.Client(project="test-project").bucket(BUCKET).blob(name).upload_from_string(text)
    return f"gs://{BUCKET}/{name}"


def output_rows(job) -> list[dict]:
    rows = []
    for blob in job.iter_outputs():
        if blob.name.rsplit("/", 1)[-1].startswith("prediction.results-"):
            rows += [json.loads(line) for line in blob.download_as_text().splitlines() if line]
    return rows


def test_jsonl_job_writes_the_models_predictions_under_the_prefix(fast_polls, model):
    source = write("in/rows.jsonl", "".join(json.dumps(row) + "\n" for row in instances()))
    job = fast_polls.BatchPredictionJob.create(
        job_display_name="score",
        model_name=model.resource_name,
        instances_format="jsonl",
        gcs_source=source,
        gcs_destination_prefix=f"gs://{BUCKET}/out",
        machine_type="n1-standard-2",
    )
    rows = output_rows(job)
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert job.output_info.gcs_output_directory.startswith(
        f"gs://{BUCKET}/out/prediction-house-price-"
    )
    assert [r["instance"] for r in rows] == instances()
    assert [r["prediction"] for r in rows] == fitted_model(0).predict(instances()).tolist()


def test_csv_job_reads_the_header_and_scores_every_row(fast_polls, model):
    lines = ["a,b,c", *(",".join(str(v) for v in row) for row in instances())]
    source = write("in/rows.csv", "\n".join(lines) + "\n")
    job = fast_polls.BatchPredictionJob.create(
        job_display_name="score",
        model_name=model.resource_name,
        instances_format="csv",
        gcs_source=source,
        gcs_destination_prefix=f"gs://{BUCKET}/out",
        machine_type="n1-standard-2",
    )
    assert [r["prediction"] for r in output_rows(job)] == fitted_model(0).predict(
        instances()
    ).tolist()


def test_unreadable_input_fails_the_job_with_an_error(fast_polls, model):
    with pytest.raises(RuntimeError, match="does not exist"):
        fast_polls.BatchPredictionJob.create(
            job_display_name="score",
            model_name=model.resource_name,
            instances_format="jsonl",
            gcs_source=f"gs://{BUCKET}/in/missing.jsonl",
            gcs_destination_prefix=f"gs://{BUCKET}/out",
            machine_type="n1-standard-2",
        )


def test_malformed_jsonl_fails_naming_the_line(fast_polls, model):
    source = write("in/bad.jsonl", "[1, 2, 3]\n{not json\n")
    with pytest.raises(RuntimeError, match="line 2"):
        fast_polls.BatchPredictionJob.create(
            job_display_name="score",
            model_name=model.resource_name,
            instances_format="jsonl",
            gcs_source=source,
            gcs_destination_prefix=f"gs://{BUCKET}/out",
            machine_type="n1-standard-2",
        )


def test_cancel_ends_the_job_cancelled(fast_polls, model, vertex_emulator):
    source = write("in/rows.jsonl", json.dumps(instances(1)[0]) + "\n")
    job = fast_polls.BatchPredictionJob.submit(
        job_display_name="score",
        model_name=model.resource_name,
        instances_format="jsonl",
        gcs_source=source,
        gcs_destination_prefix=f"gs://{BUCKET}/out",
        machine_type="n1-standard-2",
    )
    job.cancel()
    with pytest.raises(RuntimeError, match="CANCELED"):
        job.wait_for_completion()
    assert job.state.name == "JOB_STATE_CANCELLED"
    assert vertex_emulator.model_server_pids() == []


def test_unsupported_input_format_is_400(fast_polls, model):
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest, match="instances_format"):
        fast_polls.BatchPredictionJob.submit(
            job_display_name="score",
            model_name=model.resource_name,
            instances_format="tf-record",
            gcs_source=f"gs://{BUCKET}/in/x",
            gcs_destination_prefix=f"gs://{BUCKET}/out",
            machine_type="n1-standard-2",
        )


def test_list_returns_the_jobs(fast_polls, model):
    source = write("in/rows.jsonl", json.dumps(instances(1)[0]) + "\n")
    fast_polls.BatchPredictionJob.submit(
        job_display_name="nightly",
        model_name=model.resource_name,
        instances_format="jsonl",
        gcs_source=source,
        gcs_destination_prefix=f"gs://{BUCKET}/out",
        machine_type="n1-standard-2",
    )
    assert [j.display_name for j in fast_polls.BatchPredictionJob.list()] == ["nightly"]
