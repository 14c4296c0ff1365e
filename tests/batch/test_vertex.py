"""Batch prediction on the Vertex AI emulator: a real BatchPredictionJob, the local engine's output.

Batch jobs start a model server each, so each module fixture runs one job and
the tests read what it did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from tests.batch.helpers import (
    FEATURES,
    assert_finished_by_the_second_runner,
    expected_predictions,
    read_output,
    submit_here_follow_elsewhere,
    write_frame,
)

BAD_ROWS = [3, 420]


@pytest.fixture(scope="module")
def vertex(vertex_emulator_session):
    from cloudeploy.config import Profile
    from cloudeploy.providers.vertex import VertexProvider

    vertex_emulator_session.reset()
    settings = vertex_emulator_session.profile_settings(bucket="batch-tests")
    return VertexProvider(Profile(name="emulator", provider="vertex", settings=settings))


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    """A working directory and CLOUDEPLOY_HOME shared by the module's jobs."""
    workdir = tmp_path_factory.mktemp("vertex-batch")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setenv("CLOUDEPLOY_HOME", str(workdir / "home"))
        yield workdir


@pytest.fixture(scope="module")
def package_run(vertex, module_dir, forest_package):
    """One CSV input with two bad rows, scored from a package path by Vertex AI and by the local engine."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(600, 5)), columns=FEATURES)
    frame.insert(0, "id", [f"row-{i}" for i in range(600)])
    frame.loc[600 // 2] = frame.loc[10]  # a duplicate row: equal features get equal predictions
    frame.loc[300, "id"] = "row-300"
    frame = frame.astype({"f4": object})
    frame.loc[BAD_ROWS, "f4"] = ["?", None]
    source = write_frame(frame, module_dir / "in.csv")
    local = batch_predict(forest_package, source, str(module_dir / "local.parquet"), id_column="id", chunk_rows=250)
    remote = batch_predict(forest_package, source, str(module_dir / "vertex.parquet"), id_column="id",
                           chunk_rows=250, provider=vertex, machine_type="n1-highcpu-4", replica_count=2,
                           timeout=300)
    return frame, local, remote


def test_the_batch_prediction_job_gives_the_local_engines_columns_and_predictions(package_run):
    _, local, remote = package_run

    assert remote.status().state == "succeeded"
    pd.testing.assert_frame_equal(read_output(remote.outputs()[0]), read_output(local.outputs()[0]))


def test_the_jobs_predictions_are_the_in_process_predictions(package_run, forest_package):
    frame, _, remote = package_run
    good = frame.drop(index=BAD_ROWS).astype({"f4": float})

    assert read_output(remote.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, good)


def test_ids_come_through_the_batch_prediction_job_in_input_order(package_run):
    frame, _, remote = package_run

    assert read_output(remote.outputs()[0])["id"].tolist() == frame.drop(index=BAD_ROWS)["id"].tolist()


def test_bad_rows_are_reported_like_the_local_engine_and_are_not_fatal(package_run, module_dir):
    frame, local, remote = package_run

    assert [(e["row"], e["id"]) for e in remote.errors()] == [(r + 1, frame.loc[r, "id"]) for r in BAD_ROWS]
    assert remote.errors() == local.errors()
    assert (module_dir / "vertex.errors.jsonl").is_file()


def test_the_job_is_created_with_the_specs_resources_and_a_job_label(package_run, vertex):
    _, _, remote = package_run

    job = vertex.clients.jobs.get_batch_prediction_job(name=remote.status().to_dict()["vertex_job"])

    assert job.dedicated_resources.machine_spec.machine_type == "n1-highcpu-4"
    assert job.dedicated_resources.starting_replica_count == 2
    assert job.labels["cloudeploy-batch-job"] == remote.job_id


def test_running_the_spec_again_follows_the_same_job(package_run, vertex, module_dir, forest_package):
    _, _, remote = package_run

    again = batch_predict(forest_package, str(module_dir / "in.csv"), str(module_dir / "vertex.parquet"),
                          id_column="id", chunk_rows=250, provider=vertex, machine_type="n1-highcpu-4",
                          replica_count=2, timeout=60)

    assert again.job_id == remote.job_id
    assert len(list(vertex.clients.jobs.list_batch_prediction_jobs(parent=vertex.settings.parent))) == 1


def test_a_job_submitted_on_one_runner_is_finished_by_another_with_an_empty_home(
    vertex, forest_package, tmp_path, monkeypatch
):
    run = submit_here_follow_elsewhere(vertex, forest_package, tmp_path, monkeypatch)
    assert_finished_by_the_second_runner(*run, folder=tmp_path, package_dir=forest_package)
