"""Batch prediction, as the official samples do it.

Samples: vertex-ai-samples ``notebooks/official/custom/sdk-custom-image-classification-batch.ipynb``
and ``notebooks/official/prediction/custom_batch_prediction_feature_filter.ipynb``:
JSON Lines instances in Cloud Storage, ``model.batch_predict(job_display_name=...,
gcs_source=..., gcs_destination_prefix=..., instances_format="jsonl",
predictions_format="jsonl", machine_type=..., sync=False)``, ``job.wait()``, then
``job.iter_outputs()`` and the lines of the files whose name starts with
``prediction``; clean-up with ``batch_predict_job.delete()``.

Documented results: the job ends JOB_STATE_SUCCEEDED under
``<prefix>/prediction-<model>-<time>``; a custom model's job writes
``prediction.results-00000-of-00001`` (``{"instance", "prediction"}`` lines) and
``prediction.errors_stats-00000-of-00001`` (``{"instance", "error"}``), the names
Google's pipeline components and AI Platform listings show; ``delete()`` returns
an operation the v1 Operations API can poll, after which the job is gone.
"""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import (
    FEATURES,
    PREBUILT_IMAGE,
    fitted_model,
    instances,
)

RESULTS = "prediction.results-00000-of-00001"
ERRORS = "prediction.errors_stats-00000-of-00001"


@pytest.fixture(scope="module")
def model(vertex, model_uri):
    from google.cloud import aiplatform

    return aiplatform.Model.upload(
        display_name="batch-example",
        artifact_uri=model_uri,
        serving_container_image_uri=PREBUILT_IMAGE,
    )


@pytest.fixture(scope="module")
def finished_job(vertex, model):
    """The sample's job over good rows and one row the model refuses (too few features)."""
    rows = [*instances(4), [1.0] * (FEATURES - 1)]
    source = vertex.upload_text("batch/in.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    job = model.batch_predict(
        job_display_name="example-batch",
        gcs_source=source,
        gcs_destination_prefix=f"{vertex.bucket_uri}/batch/out",
        instances_format="jsonl",
        predictions_format="jsonl",
        machine_type="n1-standard-4",
        sync=False,
    )
    job.wait()
    return job


def outputs(job) -> dict[str, list[dict]]:
    return {
        blob.name.rsplit("/", 1)[-1]: [
            json.loads(x) for x in blob.download_as_text().splitlines() if x
        ]
        for blob in job.iter_outputs()
    }


def test_the_job_succeeds_under_a_prediction_directory_of_the_prefix(finished_job, vertex):
    assert finished_job.state.name == "JOB_STATE_SUCCEEDED"
    directory = finished_job.output_info.gcs_output_directory
    assert directory.startswith(f"{vertex.bucket_uri}/batch/out/prediction-batch-example-")
    stats = finished_job.completion_stats
    assert (stats.successful_count, stats.failed_count) == (4, 1)


def test_results_and_errors_have_the_custom_model_file_names(finished_job):
    assert sorted(outputs(finished_job)) == [ERRORS, RESULTS]


def test_results_pair_each_instance_with_its_prediction(finished_job):
    rows = outputs(finished_job)[RESULTS]
    assert [r["instance"] for r in rows] == instances(4)
    assert [r["prediction"] for r in rows] == fitted_model(0).predict(instances(4)).tolist()


def test_the_refused_row_is_in_the_errors_file(finished_job):
    (row,) = outputs(finished_job)[ERRORS]
    assert row["instance"] == [1.0] * (FEATURES - 1)
    assert row["error"]["message"]


def test_an_unknown_machine_type_is_invalid_argument(vertex, model):
    source = vertex.upload_text("batch/one.jsonl", json.dumps(instances(1)[0]) + "\n")
    with pytest.raises(exceptions.BadRequest, match="n1-imaginary-7"):
        model.batch_predict(
            job_display_name="bad-machine",
            gcs_source=source,
            gcs_destination_prefix=f"{vertex.bucket_uri}/batch/out",
            instances_format="jsonl",
            machine_type="n1-imaginary-7",
        )


def test_delete_returns_a_pollable_operation_and_removes_the_job(finished_job):
    from google.cloud import aiplatform

    name = finished_job.resource_name
    finished_job.delete()
    assert name not in [j.resource_name for j in aiplatform.BatchPredictionJob.list()]
    with pytest.raises(exceptions.NotFound):
        aiplatform.BatchPredictionJob(name)
