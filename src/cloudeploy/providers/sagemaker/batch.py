"""Batch prediction on SageMaker: a transform job from a BatchSpec.

The input is staged (checked row by row, see :mod:`cloudeploy.batch.staging`)
as header-less CSV parts under ``s3://<bucket>/<prefix>/batch/<job-id>/input/``,
each line the row's carried columns (ids) followed by its features. The
transform job reads them with ``SplitType=Line`` and ``BatchStrategy=
MultiRecord``; its ``DataProcessing`` drops the carried columns before the
model sees a line (``InputFilter``), joins each prediction to its input line
(``JoinSource=Input``) and keeps the carried columns and the prediction
(``OutputFilter``), so ``.../output/part-NNNNN.csv.out`` holds ``ids...,prediction``
per line, in order. Reading the output, the client checks each line's ids
against the staged ones (a misaligned output fails instead of mislabelling
rows) and writes them with the input's types. The model is the registered
version (a package path is uploaded to the registry first), created as a
SageMaker Model by the provider.

Crash points (``CLOUDEPLOY_TEST_CRASH_AT``, see :mod:`cloudeploy.crashpoints`):
``sagemaker.batch.after_register``, ``after_stage``, ``after_model``,
``after_create_job``, and the shared ``after_job_done`` / ``after_write_output``
of :class:`~cloudeploy.batch.cloudjob.CloudBatchJob`.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudeploy.batch.cloudjob import CloudBatchJob, publish_errors, registered_version
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.batch.staging import csv_lines, parse_prediction, stage_input
from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import NotFoundError, OperationFailed
from cloudeploy.providers.base import ProgressCallback, no_progress

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
_STATES = {"InProgress": "running", "Stopping": "running", "Completed": "succeeded", "Failed": "failed", "Stopped": "failed"}


class SageMakerBatchJob(CloudBatchJob):
    """A SageMaker transform job named after the job id."""

    provider = "sagemaker"

    def _describe(self) -> dict[str, Any]:
        from cloudeploy.providers.sagemaker.errors import translated

        with translated(f"describing transform job {self.job_id}"):
            return self.backend.clients.sagemaker.describe_transform_job(TransformJobName=self.job_id)

    def remote_state(self) -> tuple[str, str]:
        description = self._describe()
        status = description["TransformJobStatus"]
        message = description.get("FailureReason", "") or ("stopped" if status == "Stopped" else "")
        return _STATES.get(status, "running"), message

    def predictions_of(self, index: int) -> Iterable[Any]:
        from cloudeploy.providers.sagemaker.errors import translated

        bucket, key = _split(f"{self.record['output_uri']}/part-{index:05d}.csv.out")
        with translated(f"reading s3://{bucket}/{key}"):
            body = self.backend.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        lines = [line for line in body.decode().splitlines() if line.strip()]
        carried = int(self.record.get("carried", 0))
        if not carried:
            return [parse_prediction(line) for line in lines]
        rows = list(csv.reader(lines))
        _check_ids(rows, _staged_ids(self.job, index), carried, f"s3://{bucket}/{key}")
        return [_prediction(row[carried:]) for row in rows]

    def upload(self, path: Path, uri: str) -> None:
        from cloudeploy.providers.sagemaker.errors import translated

        bucket, key = _split(uri)
        with translated(f"uploading {uri}"):
            self.backend.clients.s3.upload_file(str(path), bucket, key)

    def remote_ids(self) -> dict[str, str]:
        return {"transform_job": self.job_id, "model_name": self.record["model_name"]}


def submit_sagemaker(
    spec: BatchSpec,
    provider: Any,
    *,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> SageMakerBatchJob:
    """Stage the input, create the transform job (once), and follow it if ``wait``."""
    from cloudeploy.batch.api import local_home
    from cloudeploy.batch.plan import SourceFiles, derive_job_id
    from cloudeploy.providers.sagemaker.errors import translated

    source = SourceFiles.of(spec.source, provider)
    version, schema = _model_version(spec, provider, progress)
    crash_point("sagemaker.batch.after_register")
    job_id = spec.job_id or derive_job_id(spec, version.digest, source.fingerprint)
    spec = spec.with_job_id(job_id)
    job = JobDir(local_home(provider) / job_id)
    base = f"s3://{provider.settings.bucket}/{provider.settings.key('batch', job_id)}"
    if not job.exists():
        job.create({"spec": spec.to_dict(), "provider": "sagemaker", "model": version.ref,
                    "input_uri": f"{base}/input", "output_uri": f"{base}/output", "model_name": "",
                    "carried": len(spec.carry_columns), "features": len(schema)})
    record = job.record()
    progress(f"checking and staging the input under {record['input_uri']}")

    def upload_part(index: int, features) -> None:
        bucket, key = _split(f"{record['input_uri']}/part-{index:05d}.csv")
        if spec.carry_columns:  # staging wrote this part's ids before asking for its upload
            features = _with_ids(_staged_ids(job, index), features)
        with translated(f"staging s3://{bucket}/{key}"):
            provider.clients.s3.put_object(Bucket=bucket, Key=key, Body=csv_lines(features))

    files = source.materialize(job.path / "input")
    try:
        stage_input(spec, schema, files, job, upload_part, job.path / "errors.jsonl")
    finally:
        publish_errors(spec, job)
    crash_point("sagemaker.batch.after_stage")
    model_name = provider.ensure_model(version)
    crash_point("sagemaker.batch.after_model")
    record["model_name"] = model_name
    job.create(record)
    handle = SageMakerBatchJob(job, provider)
    try:
        handle._describe()
        progress(f"following the existing transform job {job_id}")
    except NotFoundError:
        progress(f"creating transform job {job_id} with model {model_name}")
        with translated(f"creating transform job {job_id}"):
            provider.clients.sagemaker.create_transform_job(**_request(spec, job_id, model_name, record))
        crash_point("sagemaker.batch.after_create_job")
    if wait:
        handle.wait(timeout, progress=lambda s: progress(f"transform job {job_id}: {s.state}"), interval=1.0)
    return handle


def _request(spec: BatchSpec, job_id: str, model_name: str, record: dict[str, Any]) -> dict[str, Any]:
    from cloudeploy.providers.sagemaker import naming

    request = {
        "TransformJobName": job_id,
        "ModelName": model_name,
        "BatchStrategy": spec.options.get("batch_strategy", "MultiRecord"),
        "MaxPayloadInMB": int(spec.options.get("max_payload_mb", 6)),
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": record["input_uri"] + "/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": record["output_uri"], "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {
            "InstanceType": spec.machine_type or DEFAULT_INSTANCE_TYPE,
            "InstanceCount": spec.replica_count,
        },
        "Tags": naming.tags(**{"cloudeploy-batch-job": job_id}),
    }
    if record.get("carried"):
        request["DataProcessing"] = data_processing(record["carried"], record["features"])
    return request


def data_processing(carried: int, features: int) -> dict[str, str]:
    """``DataProcessing`` for lines of ``carried`` id cells then ``features`` feature cells.

    The model gets the features; the output keeps the ids and every cell of the
    prediction. Indexes are listed one by one while that fits SageMaker's
    63-character JSONPath limit, else the ids are one slice.
    """
    kept = "$[" + ",".join(map(str, range(carried))) + f",{carried + features}:]"
    if len(kept) > 63:
        kept = f"$[0:{carried},{carried + features}:]"
    return {"InputFilter": f"$[{carried}:]", "JoinSource": "Input", "OutputFilter": kept}


def _staged_ids(job: JobDir, index: int):
    """The carried columns of staged part ``index`` (written by staging, in row order)."""
    import pyarrow.parquet as pq

    return pq.read_table(job.path / "ids" / f"part-{index:05d}.parquet")


def _with_ids(ids, features):
    """One table: the carried columns, then the features (names may repeat)."""
    import pyarrow as pa

    return pa.Table.from_arrays([*ids.columns, *features.columns], names=[*ids.column_names, *features.column_names])


def _check_ids(rows: list[list[str]], ids, carried: int, uri: str) -> None:
    """Refuse an output whose lines do not carry the staged ids, in order."""
    staged = list(csv.reader(csv_lines(ids).decode().splitlines()))
    for number, (row, expected) in enumerate(zip(rows, staged, strict=False), start=1):
        expected = expected or [""]  # one carried column holding a null is an empty line
        if row[:carried] != expected:
            raise OperationFailed(
                f"line {number} of {uri} carries {row[:carried]} where the input had {expected}",
                hint="the transform job's output does not line up with its input; run it again with a new job id",
            )


def _prediction(cells: list[str]) -> Any:
    """The prediction in a line's cells after the ids: one value, or a list (one cell each)."""
    return parse_prediction(cells[0]) if len(cells) == 1 else [parse_prediction(cell) for cell in cells]


def sagemaker_job(job_id: str, provider: Any) -> SageMakerBatchJob:
    from cloudeploy.batch.api import local_home

    job = JobDir(local_home(provider) / job_id)
    if not job.exists():
        raise NotFoundError(f"no SageMaker batch job {job_id!r} recorded under {local_home(provider)}")
    return SageMakerBatchJob(job, provider)


def _model_version(spec: BatchSpec, provider: Any, progress: ProgressCallback):
    """The registered version to run and its input schema (uploading a local package first)."""
    return registered_version(spec, provider, progress, lambda uri: _schema_from_artifact(provider, uri))


def _schema_from_artifact(provider: Any, uri: str):
    """The input schema in the ``cloudeploy.json`` of a registered ``model.tar.gz``."""
    from cloudeploy.packaging import MANIFEST_NAME, Manifest
    from cloudeploy.providers.sagemaker.errors import translated

    bucket, key = _split(uri)
    with translated(f"reading {uri}"):
        body = provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        member = archive.extractfile(MANIFEST_NAME)
        if member is None:
            raise NotFoundError(f"{uri} holds no {MANIFEST_NAME}: it is not a cloudeploy package")
        return Manifest.from_dict(json.loads(member.read())).schema


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key
