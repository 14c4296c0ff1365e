"""Batch prediction on the SageMaker emulation: a real transform job, the local engine's output.

Transform jobs are slow to start (a model server per job), so each module
fixture runs one job and the tests read what it did. The emulation's
``DataProcessing`` (input filter, join, output filter), which carries the ids
through the job, is specified first on single records, then end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from cloudeploy.testing.sagemaker.dataprocessing import DataProcessing, RecordError, parse_path
from tests.batch.helpers import (
    FEATURES,
    assert_finished_by_the_second_runner,
    expected_predictions,
    read_output,
    submit_here_follow_elsewhere,
    write_frame,
)

BAD_ROWS = [10, 150]


def processing(content_type="text/csv", accept=None, **request):
    return DataProcessing.of(request, content_type, accept, "Line")


def processed(dp: DataProcessing, record: bytes, answer: bytes) -> tuple[bytes, bytes]:
    """(what the model is sent for ``record``, what is written when it answers ``answer``)."""
    parsed, sent = dp.model_input(record)
    return sent, dp.output(parsed, answer)


def test_an_input_filter_slice_drops_the_leading_csv_columns_before_the_model():
    dp = processing(InputFilter="$[1:]")

    assert processed(dp, b"row-7,0.5,1.5", b"1")[0] == b"0.5,1.5"


def test_a_csv_join_appends_the_output_cells_to_the_unfiltered_input_row():
    dp = processing(InputFilter="$[1:]", JoinSource="Input")

    assert processed(dp, b'"id,with comma",0.5,1.5', b"0.2,0.8")[1] == b'"id,with comma",0.5,1.5,0.2,0.8'


def test_an_output_filter_keeps_the_listed_indexes_and_an_open_slice_of_the_joined_row():
    dp = processing(InputFilter="$[2:]", JoinSource="Input", OutputFilter="$[0,1,4:]")

    assert processed(dp, b"a,b,0.5,1.5", b"0.2,0.8")[1] == b"a,b,0.2,0.8"


def test_a_negative_index_counts_from_the_end_of_the_joined_row():
    dp = processing(InputFilter="$[1:]", JoinSource="Input", OutputFilter="$[0,-1]")

    assert processed(dp, b"a,0.5,1.5", b"1")[1] == b"a,1"


def test_without_a_join_the_output_filter_applies_to_the_output_alone():
    dp = processing(OutputFilter="$[1]")

    assert processed(dp, b"0.5,1.5", b"0.2,0.8")[1] == b"0.8"


def test_a_json_join_puts_the_output_under_sagemaker_output_of_the_input_object():
    dp = processing("application/json", InputFilter="$.features", JoinSource="Input",
                    OutputFilter="$['id','SageMakerOutput']")

    sent, written = processed(dp, b'{"id": 3, "features": [[1, 2]], "note": "x"}', b'{"predictions": [1]}')

    assert json.loads(sent) == [[1, 2]]
    assert json.loads(written) == {"id": 3, "SageMakerOutput": {"predictions": [1]}}


def test_a_json_input_that_is_not_an_object_is_joined_under_sagemaker_input():
    dp = processing("application/json", JoinSource="Input")

    assert json.loads(processed(dp, b"[1, 2]", b"[0]")[1]) == {"SageMakerInput": [1, 2], "SageMakerOutput": [0]}


def test_a_dotted_path_selects_nested_attributes():
    dp = processing("application/json", InputFilter="$.data.features")

    assert json.loads(processed(dp, b'{"data": {"features": [1, 2]}}', b"[0]")[0]) == [1, 2]


def test_no_data_processing_means_the_records_pass_unchanged():
    assert processing(InputFilter="$", JoinSource="None", OutputFilter="$") is None


@pytest.mark.parametrize("path", ["$..id", "$[*]", "$[?(@.id)]", "id", "$[0,1].x", "$['a',b]"])
def test_jsonpath_operators_sagemaker_does_not_support_are_refused(path):
    with pytest.raises(ValueError, match="JSONPath"):
        parse_path(path)


def test_an_index_outside_the_record_fails_the_record():
    dp = processing(OutputFilter="$[3]")

    with pytest.raises(RecordError, match="index 3 is outside the record's 1 elements"):
        processed(dp, b"0.5", b"1")


def test_joining_csv_input_with_json_output_is_refused():
    with pytest.raises(ValueError, match="cannot join text/csv input with application/json output"):
        processing("text/csv", "application/json", JoinSource="Input")


def test_data_processing_needs_records_split_by_line():
    with pytest.raises(ValueError, match="SplitType Line"):
        DataProcessing.of({"JoinSource": "Input"}, "text/csv", None, "None")


def test_the_runners_filters_keep_every_id_within_sagemakers_jsonpath_limit():
    from cloudeploy.providers.sagemaker.batch import data_processing

    few, many = data_processing(2, 5), data_processing(30, 5)

    assert few == {"InputFilter": "$[2:]", "JoinSource": "Input", "OutputFilter": "$[0,1,7:]"}
    assert len(many["OutputFilter"]) <= 63
    assert processed(processing(**many), ",".join(map(str, range(35))).encode(), b"p")[1] == (
        ",".join(map(str, range(30))) + ",p"
    ).encode()


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


def test_the_transform_job_carries_the_ids_through_data_processing(package_run, sagemaker):
    frame, _, remote = package_run
    sm, s3 = sagemaker.clients.sagemaker, sagemaker.clients.s3
    described = sm.describe_transform_job(TransformJobName=remote.job_id)
    output = described["TransformOutput"]["S3OutputPath"][len("s3://"):]
    bucket, _, prefix = output.partition("/")

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"])
    lines = [line for key in keys for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]

    assert described["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,6:]"}
    assert [line.split(",")[0] for line in lines] == frame.drop(index=BAD_ROWS)["id"].tolist()


def test_an_output_whose_ids_do_not_line_up_fails_instead_of_mislabelling_rows(package_run, sagemaker):
    from cloudeploy.batch.api import job_handle
    from cloudeploy.errors import OperationFailed

    _, _, remote = package_run
    s3 = sagemaker.clients.s3
    bucket, _, prefix = remote.record["output_uri"][len("s3://"):].partition("/")
    key = f"{prefix}/part-00000.csv.out"
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    lines = original.decode().splitlines()
    s3.put_object(Bucket=bucket, Key=key, Body="\n".join(reversed(lines)).encode())
    first, last = lines[0].split(",")[0], lines[-1].split(",")[0]
    try:
        with pytest.raises(OperationFailed, match=rf"line 1 of .* carries \['{last}'\] where the input had \['{first}'\]"):
            job_handle(remote.job_id, provider=sagemaker).predictions_of(0)
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)


def test_a_json_transform_joins_each_prediction_to_its_input_object(package_run, sagemaker, forest_package):
    frame, _, _ = package_run
    sm, s3 = sagemaker.clients.sagemaker, sagemaker.clients.s3
    bucket = sagemaker.settings.bucket
    rows = frame.drop(index=BAD_ROWS).astype({"f2": float}).head(3)
    lines = [json.dumps({"id": r.id, "features": [[getattr(r, f) for f in FEATURES]]}) for r in rows.itertuples()]
    s3.put_object(Bucket=bucket, Key="json-in/rows.jsonl", Body="\n".join(lines).encode())

    sm.create_transform_job(
        TransformJobName="json-join", ModelName="forest-v1", BatchStrategy="SingleRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/json-in/"}},
                        "ContentType": "application/json", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{bucket}/json-out", "Accept": "application/json",
                         "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        DataProcessing={"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
    )
    assert sm.describe_transform_job(TransformJobName="json-join")["TransformJobStatus"] == "Completed"
    body = s3.get_object(Bucket=bucket, Key="json-out/rows.jsonl.out")["Body"].read().decode()
    written = [json.loads(line) for line in body.splitlines()]

    assert [w["id"] for w in written] == rows["id"].tolist()
    assert [w["SageMakerOutput"]["predictions"][0] for w in written] == list(expected_predictions(forest_package, rows))


def test_creating_a_transform_job_with_an_unsupported_filter_is_a_validation_error(sagemaker, package_run):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ValidationException.*InputFilter.*unsupported operator"):
        sagemaker.clients.sagemaker.create_transform_job(
            TransformJobName="bad-filter", ModelName="forest-v1",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
                            "ContentType": "text/csv", "SplitType": "Line"},
            TransformOutput={"S3OutputPath": "s3://b/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
            DataProcessing={"InputFilter": "$..features"},
        )


def test_carried_columns_of_every_kind_come_through_as_the_local_engine_writes_them(
    sagemaker, module_dir, forest_package, package_run
):
    frame = package_run[0].drop(index=BAD_ROWS).astype({"f2": float}).head(40).reset_index(drop=True)
    frame["id"] = frame["id"].where(frame.index % 7 != 3, None)  # some null ids
    frame.insert(1, "n", range(40))  # an integer column
    frame.insert(2, "label", [f"a,b {i}" for i in range(40)])  # text with a comma
    source = write_frame(frame, module_dir / "kinds.parquet")
    carry = {"id_column": "id", "carry_columns": ["n", "label", "f0"], "features": FEATURES}  # f0 is a feature too

    local = batch_predict(forest_package, source, str(module_dir / "kinds-local.parquet"), **carry)
    remote = batch_predict(forest_package, source, str(module_dir / "kinds-sm.parquet"), provider=sagemaker,
                           timeout=300, **carry)

    pd.testing.assert_frame_equal(read_output(remote.outputs()[0]), read_output(local.outputs()[0]))


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


def test_a_job_submitted_on_one_runner_is_finished_by_another_with_an_empty_home(
    sagemaker, forest_package, tmp_path, monkeypatch
):
    run = submit_here_follow_elsewhere(sagemaker, forest_package, tmp_path, monkeypatch)
    assert_finished_by_the_second_runner(*run, folder=tmp_path, package_dir=forest_package)


def _submitted_with_staged_errors_uri(sagemaker, package, folder, monkeypatch):
    """Submit a job from a first runner (not waiting); its handle and where its refused rows are staged."""
    from cloudeploy.batch.jobdir import JobDir
    from cloudeploy.batch.records import staged_uris

    frame = pd.DataFrame(np.random.default_rng(5).normal(size=(20, len(FEATURES))), columns=FEATURES)
    frame.insert(0, "id", [f"id-{i}" for i in range(20)])
    source = write_frame(frame, folder / "in.csv")
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(folder / "first-runner"))
    submitted = batch_predict(package, source, str(folder / "out.parquet"), id_column="id",
                              provider=sagemaker, wait=False)
    # (not submitted.status(): polling may finish the job on this runner)
    (job_json,) = (folder / "first-runner").rglob(f"{submitted.job_id}/job.json")
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(folder / "second-runner"))
    return submitted, staged_uris(JobDir(job_json.parent).record())["errors"]


def test_a_second_runner_names_the_job_when_its_staged_files_are_gone(
    sagemaker, forest_package, tmp_path, monkeypatch
):
    """The follower fetches what the submitter staged; an object deleted from the bucket
    in between is one line naming the job and the object, not an SDK error."""
    from cloudeploy.batch.api import job_handle
    from cloudeploy.batch.remote import split
    from cloudeploy.errors import NotFoundError

    submitted, errors_uri = _submitted_with_staged_errors_uri(sagemaker, forest_package, tmp_path, monkeypatch)
    _, bucket, key = split(errors_uri)
    sagemaker.batch_backend().objects("s3").client.delete_object(Bucket=bucket, Key=key)

    with pytest.raises(NotFoundError) as raised:
        job_handle(submitted.job_id, provider=sagemaker).wait(300)

    assert submitted.job_id in str(raised.value) and errors_uri in str(raised.value)
    assert not list((tmp_path / "second-runner").rglob("*.part"))  # no half-downloaded file left


def test_a_second_runner_reports_a_refused_read_as_refused_not_as_gone(
    sagemaker, forest_package, tmp_path, monkeypatch
):
    """Only a missing object is "gone": a read the bucket refuses says so (and keeps its cause)."""
    from botocore.exceptions import ClientError

    from cloudeploy.batch.api import job_handle
    from cloudeploy.errors import CloudeployError, NotFoundError

    submitted, errors_uri = _submitted_with_staged_errors_uri(sagemaker, forest_package, tmp_path, monkeypatch)

    def refused(bucket, key, path, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    monkeypatch.setattr(sagemaker.batch_backend().objects("s3").client, "download_file", refused)
    with pytest.raises(CloudeployError) as raised:
        job_handle(submitted.job_id, provider=sagemaker).wait(300)

    assert not isinstance(raised.value, NotFoundError)
    assert "Access Denied" in str(raised.value) and "AccessDenied" in str(raised.value)
