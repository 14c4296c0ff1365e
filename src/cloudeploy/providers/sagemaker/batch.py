"""Batch prediction on SageMaker: a transform job per batch job (the provider's batch backend).

``cloudeploy.batch`` checks and stages the input (:func:`cloudeploy.batch.cloudjob.submit_cloud`)
as header-less CSV parts, each line the row's carried columns (ids) followed by
its features; this backend uploads them under
``s3://<bucket>/<prefix>/batch/<job-id>/input/`` and creates the transform job.
The job reads them with ``SplitType=Line`` and ``BatchStrategy=MultiRecord``;
its ``DataProcessing`` drops the carried columns before the model sees a line
(``InputFilter``), joins each prediction to its input line (``JoinSource=Input``)
and keeps the carried columns and the prediction (``OutputFilter``), so
``.../output/part-NNNNN.csv.out`` holds ``ids...,prediction`` per line, in order.
Reading the output, each line's ids are checked against the staged ones (a
misaligned output fails instead of mislabelling rows). The model is the
registered version (a package path is uploaded to the registry first), created
as a SageMaker Model by the provider.

Crash points (``CLOUDEPLOY_TEST_CRASH_AT``, see :mod:`cloudeploy.crashpoints`):
``sagemaker.batch.after_model`` and ``after_create_job`` here, and the shared
``after_register``, ``after_stage``, ``after_job_done`` and ``after_write_output``.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import NotFoundError, OperationFailed
from cloudeploy.packaging import MANIFEST_NAME, Manifest
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import CloudBatchBackend
from cloudeploy.providers.sagemaker import naming
from cloudeploy.providers.sagemaker.errors import translated
from cloudeploy.providers.sagemaker.options import SageMakerOptions
from cloudeploy.providers.sagemaker.storage import S3Objects

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
_STATES = {"InProgress": "running", "Stopping": "running", "Completed": "succeeded", "Failed": "failed", "Stopped": "failed"}


class SageMakerBatch(CloudBatchBackend):
    """Transform jobs named after the job id; options ``model_name``, ``batch_strategy``
    (MultiRecord | SingleRecord) and ``max_payload_mb``."""

    name = "sagemaker"
    job_kind = "transform job"
    staged_format = "csv"
    known_options: frozenset[str] = frozenset({"model_name", "batch_strategy", "max_payload_mb"})

    def objects(self, scheme: str) -> Any:
        if scheme != "s3":
            return None
        return S3Objects(self.provider.clients.s3)

    def staging_uri(self, job_id: str) -> str:
        return f"s3://{self.provider.settings.bucket}/{self.provider.settings.key('batch', job_id)}"

    def schema_of(self, uri: str) -> Any:
        """The input schema in the ``cloudeploy.json`` of a registered ``model.tar.gz``."""
        bucket, key = _split(uri)
        with translated(f"reading {uri}"):
            body = self.provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            member = archive.extractfile(MANIFEST_NAME)
            if member is None:
                raise NotFoundError(f"{uri} holds no {MANIFEST_NAME}: it is not a cloudeploy package")
            return Manifest.from_dict(json.loads(member.read())).schema

    def new_record(self, spec: Any, version: Any, schema: Any) -> dict[str, Any]:
        return {"model_name": "", "carried": len(spec.carry_columns), "features": len(schema)}

    def start(self, spec: Any, record: dict[str, Any], version: Any, parts: Sequence[int], *,
              save: Callable[[dict[str, Any]], None], progress: ProgressCallback = no_progress) -> None:
        job_id = spec.job_id
        model_name = self.provider.ensure_model(version)
        crash_point("sagemaker.batch.after_model")
        record["model_name"] = model_name
        save(record)
        try:
            self._describe(job_id)
            progress(f"following the existing transform job {job_id}")
        except NotFoundError:
            progress(f"creating transform job {job_id} with model {model_name}")
            with translated(f"creating transform job {job_id}"):
                self.provider.clients.sagemaker.create_transform_job(**_request(spec, job_id, model_name, record))
            crash_point("sagemaker.batch.after_create_job")

    def _describe(self, job_id: str) -> dict[str, Any]:
        with translated(f"describing transform job {job_id}"):
            return self.provider.clients.sagemaker.describe_transform_job(TransformJobName=job_id)

    def state(self, record: dict[str, Any]) -> tuple[str, str]:
        description = self._describe(record["spec"]["job_id"])
        status = description["TransformJobStatus"]
        message = description.get("FailureReason", "") or ("stopped" if status == "Stopped" else "")
        return _STATES.get(status, "running"), message

    def predictions(self, record: dict[str, Any], index: int, staged: Path) -> Iterable[Any]:
        bucket, key = _split(f"{record['output_uri']}/part-{index:05d}.csv.out")
        with translated(f"reading s3://{bucket}/{key}"):
            body = self.provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        lines = [line for line in body.decode().splitlines() if line.strip()]
        carried = int(record.get("carried", 0))
        if not carried:
            return [parse_prediction(line) for line in lines]
        rows = list(csv.reader(lines))
        staged_ids = [row[:carried] for row in csv.reader(staged.read_text().splitlines())]
        _check_ids(rows, staged_ids, carried, f"s3://{bucket}/{key}")
        return [_prediction(row[carried:]) for row in rows]

    def upload(self, path: Path, uri: str) -> None:
        bucket, key = _split(uri)
        with translated(f"uploading {uri}"):
            self.provider.clients.s3.upload_file(str(path), bucket, key)

    def remote_ids(self, record: dict[str, Any]) -> dict[str, str]:
        return {"transform_job": record["spec"]["job_id"], "model_name": record["model_name"]}


def _request(spec: Any, job_id: str, model_name: str, record: dict[str, Any]) -> dict[str, Any]:
    options = SageMakerOptions.parse(spec.options, step="batch")
    request = {
        "TransformJobName": job_id,
        "ModelName": model_name,
        "BatchStrategy": options.batch_strategy or "MultiRecord",
        "MaxPayloadInMB": 6 if options.max_payload_mb is None else options.max_payload_mb,
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


def _check_ids(rows: list[list[str]], staged: list[list[str]], carried: int, uri: str) -> None:
    """Refuse an output whose lines do not carry the staged ids, in order."""
    for number, (row, expected) in enumerate(zip(rows, staged, strict=False), start=1):
        expected = expected or [""]  # one carried column holding a null is an empty line
        if row[:carried] != expected:
            raise OperationFailed(
                f"line {number} of {uri} carries {row[:carried]} where the input had {expected}",
                hint="the transform job's output does not line up with its input; run it again with a new job id",
            )


def parse_prediction(text: str) -> Any:
    """One prediction written as text by the model server: an int, a float, a list, or the text."""
    text = text.strip()
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    if "," in text:
        return [parse_prediction(cell) for cell in text.split(",")]
    return text.strip('"')


def _prediction(cells: list[str]) -> Any:
    """The prediction in a line's cells after the ids: one value, or a list (one cell each)."""
    return parse_prediction(cells[0]) if len(cells) == 1 else [parse_prediction(cell) for cell in cells]


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key
