"""Batch prediction on the SageMaker emulation: a real transform job, the local engine's output.

Transform jobs are slow to start (a model server per job), so each module
fixture runs one job and the tests read what it did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from tests.batch.helpers import FEATURES, expected_predictions, read_output, write_frame

BAD_ROWS = [10, 150]


@pytest.fixture(scope="module")
def sagemaker(sagemaker_emulator_session):
    from cloudeploy.config import Profile
    from cloudeploy.providers.sagemaker import SageMakerProvider

    sagemaker_emulator_session.reset()
    settings = sagemaker_emulator_session.profile_settings()
    return SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    """A working directory and CLOUDEPLOY_HOME shared by the module's jobs."""
    workdir = tmp_path_factory.mktemp("sagemaker-batch")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setenv("CLOUDEPLOY_HOME", str(workdir / "home"))
        yield workdir


@pytest.fixture(scope="module")
def package_run(sagemaker, module_dir, forest_package):
    """One input with two bad rows, scored from a package path by SageMaker and by the local engine."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(600, 5)), columns=FEATURES)
    frame.insert(0, "id", [f"row-{i}" for i in range(600)])
    frame["f2"] = frame["f2"].map(repr)  # a text column in Parquet: every value is parsed
    frame.loc[BAD_ROWS, "f2"] = "n/a"
    source = write_frame(frame, module_dir / "in.parquet")
    local = batch_predict(forest_package, source, str(module_dir / "local.jsonl"), id_column="id", chunk_rows=250)
    remote = batch_predict(forest_package, source, str(module_dir / "sagemaker.jsonl"), id_column="id",
                           chunk_rows=250, provider=sagemaker, machine_type="ml.c5.xlarge", replica_count=2,
                           timeout=300)
    return frame, local, remote


def test_the_transform_job_gives_the_local_engines_columns_and_predictions(package_run):
    _, local, remote = package_run

    assert remote.status().state == "succeeded"
    pd.testing.assert_frame_equal(read_output(remote.outputs()[0]), read_output(local.outputs()[0]))


def test_the_transform_jobs_predictions_are_the_in_process_predictions(package_run, forest_package):
    frame, _, remote = package_run
    good = frame.drop(index=BAD_ROWS).astype({"f2": float})

    assert read_output(remote.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, good)


def test_ids_come_through_the_transform_job_in_input_order(package_run):
    frame, _, remote = package_run

    assert read_output(remote.outputs()[0])["id"].tolist() == frame.drop(index=BAD_ROWS)["id"].tolist()


def test_bad_rows_are_reported_like_the_local_engine_and_are_not_fatal(package_run, module_dir):
    frame, local, remote = package_run

    assert [(e["row"], e["id"]) for e in remote.errors()] == [(r + 1, frame.loc[r, "id"]) for r in BAD_ROWS]
    assert remote.errors() == local.errors()
    assert (module_dir / "sagemaker.errors.jsonl").is_file()


def test_the_transform_job_splits_lines_in_multi_record_batches(package_run, sagemaker):
    _, _, remote = package_run

    described = sagemaker.clients.sagemaker.describe_transform_job(TransformJobName=remote.job_id)

    assert described["TransformInput"]["SplitType"] == "Line"
    assert described["TransformInput"]["ContentType"] == "text/csv"
    assert described["BatchStrategy"] == "MultiRecord"
    assert described["TransformOutput"]["AssembleWith"] == "Line"
    assert described["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2}


def test_a_registered_version_runs_without_a_new_upload(sagemaker, module_dir, forest_package, package_run):
    frame, local, _ = package_run
    sagemaker.set_aliases(sagemaker.list_versions("forest")[0].model, "v1", ["prod"])
    source = write_frame(frame, module_dir / "again.parquet")

    job = batch_predict("forest@prod", source, str(module_dir / "registered.jsonl"), id_column="id",
                        provider=sagemaker, timeout=300)

    assert [v.version for v in sagemaker.list_versions("forest")] == ["v1"]
    pd.testing.assert_frame_equal(read_output(job.outputs()[0]), read_output(local.outputs()[0]))


def test_too_many_bad_rows_fail_before_a_transform_job_is_created(sagemaker, module_dir, forest_package):
    from cloudeploy.errors import OperationFailed

    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "f0": [1.0, None, None, 2.0], "f1": 0.0, "f2": 0.0,
                          "f3": 0.0, "f4": 0.0})
    source = write_frame(frame, module_dir / "mostly-bad.csv")
    before = sagemaker.clients.sagemaker.list_transform_jobs()["TransformJobSummaries"]

    with pytest.raises(OperationFailed, match="2 of 4 rows failed"):
        batch_predict(forest_package, source, str(module_dir / "bad.csv"), id_column="id", provider=sagemaker)

    assert sagemaker.clients.sagemaker.list_transform_jobs()["TransformJobSummaries"] == before
    assert len((module_dir / "bad.errors.jsonl").read_text().splitlines()) == 2
