"""Cloud sources and destinations for the local engine: s3:// and gs:// objects in and out."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from cloudeploy import batch_predict
from cloudeploy.errors import NotFoundError
from tests.batch.helpers import expected_predictions, write_frame

BUCKET = "batch-remote"


@pytest.fixture
def s3(sagemaker_emulator, workdir, monkeypatch):
    for key, value in sagemaker_emulator.environment().items():
        monkeypatch.setenv(key, value)
    client = sagemaker_emulator.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def gcs(vertex_emulator, workdir, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex_emulator.storage_endpoint)
    vertex_emulator.profile_settings(bucket=BUCKET)
    return storage.Client(project=vertex_emulator.project, credentials=AnonymousCredentials())


def test_an_s3_glob_is_scored_into_an_s3_destination(s3, workdir, forest_package, rows):
    first, second = rows(150, seed=1), rows(90, seed=2)
    for name, frame in (("a", first), ("b", second)):
        s3.put_object(Bucket=BUCKET, Key=f"in/day={name}/rows.csv", Body=frame.to_csv(index=False).encode())
    s3.put_object(Bucket=BUCKET, Key="in/readme.txt", Body=b"not an input")

    batch_predict(forest_package, f"s3://{BUCKET}/in/day=*/rows.csv", f"s3://{BUCKET}/out/preds.csv",
                  id_column="id", workers=1)

    body = s3.get_object(Bucket=BUCKET, Key="out/preds.csv")["Body"].read()
    output = pd.read_csv(io.BytesIO(body), dtype={"id": str})
    both = pd.concat([first, second])
    assert output["id"].tolist() == both["id"].tolist()
    assert output["prediction"].tolist() == expected_predictions(forest_package, both)


def test_failed_rows_of_an_s3_job_land_beside_its_destination(s3, workdir, forest_package, rows):
    frame = rows(40).astype({"f0": object})
    frame.loc[7, "f0"] = "oops"
    s3.put_object(Bucket=BUCKET, Key="in/rows.csv", Body=frame.to_csv(index=False).encode())

    job = batch_predict(forest_package, f"s3://{BUCKET}/in/rows.csv", f"s3://{BUCKET}/out/preds.parquet",
                        id_column="id", workers=1)

    body = s3.get_object(Bucket=BUCKET, Key="out/preds.errors.jsonl")["Body"].read().decode()
    assert [e["row"] for e in job.errors()] == [8]
    assert '"row": 8' in body


def test_a_gcs_folder_is_scored_into_a_local_file(gcs, workdir, forest_package, rows):
    frame = rows(120)
    path = write_frame(frame, workdir / "local.parquet")
    gcs.bucket(BUCKET).blob("folder/part-0.parquet").upload_from_filename(path)

    job = batch_predict(forest_package, f"gs://{BUCKET}/folder/", str(workdir / "out.jsonl"), id_column="id",
                        input_format="parquet", workers=1)

    output = pd.read_json(job.outputs()[0], lines=True, dtype={"id": str})
    assert output["id"].tolist() == frame["id"].tolist()


def test_an_empty_cloud_prefix_is_not_found(s3, workdir, forest_package):
    with pytest.raises(NotFoundError, match="no input objects"):
        batch_predict(forest_package, f"s3://{BUCKET}/nothing/*.csv", str(workdir / "out.csv"))
