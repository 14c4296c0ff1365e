"""Transform jobs that read their S3 input and write real output objects.

CreateTransformJob leaves the job ``InProgress``; the next describe call runs it:
it starts a model server for the job's model, sends every input object under
``S3Uri`` (whole, or line by line for ``SplitType=Line``, batched for
``MultiRecord``) to ``/invocations`` and writes ``<S3OutputPath>/<key>.out``,
then reports ``Completed`` or ``Failed`` with a ``FailureReason``.
``DataProcessing`` (input filter, join with the input, output filter) is
applied record by record, see :mod:`~cloudeploy.testing.sagemaker.dataprocessing`.
StopTransformJob moves an unfinished job to ``Stopped``.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from cloudeploy.testing.sagemaker import backends, containers, sklearn_container
from cloudeploy.testing.sagemaker.dataprocessing import DataProcessing, RecordError
from cloudeploy.testing.sagemaker.endpoints import utcnow
from cloudeploy.testing.sagemaker.errors import ValidationException
from cloudeploy.testing.sagemaker.fleet import Fleet, ProvisionError
from cloudeploy.testing.sagemaker.state import STATE

DEFAULT_MAX_PAYLOAD_MB = 6
# One transform runs at a time, so concurrent describes do not run a job twice.
_RUN_LOCK = threading.Lock()


class TransformFailed(RuntimeError):
    pass


def _job(self, name: str) -> Any:
    job = backends.sagemaker(self.current_account, self.region).transform_jobs.get(name)
    if job is None:
        arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:transform-job/{name}"
        raise ValidationException(f"Could not find transform job '{arn}'.")
    return job


def _records(data: bytes, split: str | None) -> list[bytes]:
    if split == "Line":
        return [line for line in data.splitlines() if line.strip()]
    return [data]


def _batches(records: list[bytes], strategy: str | None, max_bytes: int) -> list[list[bytes]]:
    """The records grouped into requests: one each, or as many as fit ``max_bytes`` (MultiRecord)."""
    if strategy != "MultiRecord":
        return [[record] for record in records]
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and size + len(record) + 1 > max_bytes:
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record) + 1
    if current:
        batches.append(current)
    return batches


def _run(account: str, region: str, job: Any) -> None:
    """Transform every input object; raise TransformFailed with the reason."""
    source = (job.transform_input.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise TransformFailed("Only S3DataType S3Prefix is supported by this emulation.")
    input_uri = source.get("S3Uri", "")
    output = job.transform_output or {}
    output_path = output.get("S3OutputPath", "").rstrip("/")
    content_type = job.transform_input.get("ContentType") or "application/octet-stream"
    joiner = b"\n" if output.get("AssembleWith") == "Line" else b""
    max_bytes = int(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024
    try:
        keys = backends.list_keys(account, input_uri)
    except ValidationException as error:
        raise TransformFailed(error.message) from None
    if not keys:
        raise TransformFailed(f"No S3 objects found under S3Uri {input_uri}")
    bucket, prefix = backends.split_s3_uri(input_uri)
    base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
    processing = _processing(job)
    # The model's container answers as it would on an endpoint (see sklearn_container).
    container = containers.serving_container(account, region, job.model_name) or {}
    contract = SimpleNamespace(image=container.get("Image", ""), model=job.model_name)
    output = {
        **output,
        "Accept": sklearn_container.accept_for(account, region, contract, output.get("Accept")),
        "contract": contract,
    }
    fleet = Fleet(account, region, STATE.workdir)
    key = ("v1", job.model_name)
    try:
        fleet.provision([key])
        server = fleet.server(key)
        for object_key in keys:
            data = backends.read_object(account, f"s3://{bucket}/{object_key}")
            records = _records(data, job.transform_input.get("SplitType"))
            where = f"s3://{bucket}/{object_key}"
            answers = []
            for batch in _batches(records, job.batch_strategy, max_bytes):
                if processing is None:
                    answers.append(_invoke(server, b"\n".join(batch), content_type, output, where))
                else:
                    answers += _processed(processing, server, batch, content_type, output, where)
            relative = object_key[len(base) :] if object_key.startswith(base) else object_key
            backends.write_object(
                account, f"{output_path}/{relative}.out", joiner.join(answers) + joiner
            )
    except ProvisionError as error:
        raise TransformFailed(str(error)) from None
    finally:
        fleet.stop_all()


def _invoke(
    server: Any, payload: bytes, content_type: str, output: dict[str, Any], where: str
) -> bytes:
    answer = server.invoke(payload, content_type, output.get("Accept"))
    if answer.status_code >= 400:
        raise TransformFailed(
            f"ClientError: {answer.status_code} from the model for {where}: {answer.text[:500]}"
        )
    body = answer.content
    if output.get("contract") is not None:
        body, _ = sklearn_container.shape_answer(
            output["contract"], body, answer.headers.get("content-type", "")
        )
    return body.rstrip(b"\n")


def _processing(job: Any) -> DataProcessing | None:
    """The job's DataProcessing (checked when the job was created)."""
    return DataProcessing.of(
        job.data_processing,
        job.transform_input.get("ContentType") or "",
        (job.transform_output or {}).get("Accept"),
        job.transform_input.get("SplitType"),
    )


def _processed(
    processing: DataProcessing,
    server: Any,
    batch: list[bytes],
    content_type: str,
    output: dict[str, Any],
    where: str,
) -> list[bytes]:
    """One output record per input record of ``batch``: filtered, sent, joined and filtered again."""
    try:
        inputs = [processing.model_input(record) for record in batch]
        answer = _invoke(
            server, b"\n".join(payload for _, payload in inputs), content_type, output, where
        )
        # One record is answered by the whole body; several by one line each.
        answers = [answer] if len(batch) == 1 else answer.split(b"\n")
        if len(answers) != len(batch):
            raise TransformFailed(
                f"the model answered {len(answers)} records for {len(batch)} input records of {where}: "
                "with DataProcessing every input record needs exactly one output line"
            )
        return [
            processing.output(record, out) for (record, _), out in zip(inputs, answers, strict=True)
        ]
    except RecordError as error:
        raise TransformFailed(f"DataProcessing failed for a record of {where}: {error}") from None


def create_transform_job(self) -> ActionResult:
    name = self._get_param("TransformJobName")
    backend = backends.sagemaker(self.current_account, self.region)
    if name in backend.transform_jobs:
        raise ValidationException(
            f"Job name must be unique within an AWS account and region, and a job with this name already exists ({name})"
        )
    model_name = self._get_param("ModelName")
    if model_name not in backend._models:
        raise ValidationException(f'Could not find model "{model_name}".')
    output = self._get_param("TransformOutput") or {}
    backends.split_s3_uri(output.get("S3OutputPath", ""))
    transform_input = self._get_param("TransformInput") or {}
    try:
        DataProcessing.of(
            self._get_param("DataProcessing"),
            transform_input.get("ContentType") or "",
            output.get("Accept"),
            transform_input.get("SplitType"),
        )
    except ValueError as error:
        raise ValidationException(str(error)) from None
    job = backend.create_transform_job(
        transform_job_name=name,
        model_name=model_name,
        max_concurrent_transforms=self._get_param("MaxConcurrentTransforms"),
        model_client_config=self._get_param("ModelClientConfig"),
        max_payload_in_mb=self._get_param("MaxPayloadInMB"),
        batch_strategy=self._get_param("BatchStrategy"),
        environment=self._get_param("Environment"),
        transform_input=self._get_param("TransformInput"),
        transform_output=self._get_param("TransformOutput"),
        data_capture_config=self._get_param("DataCaptureConfig"),
        transform_resources=self._get_param("TransformResources"),
        data_processing=self._get_param("DataProcessing"),
        tags=self._get_param("Tags"),
        experiment_config=self._get_param("ExperimentConfig"),
    )
    job.transform_job_status = "InProgress"
    job.transform_end_time = None
    return ActionResult({"TransformJobArn": job.arn})


def describe_transform_job(self) -> ActionResult:
    job = _job(self, self._get_param("TransformJobName"))
    with _RUN_LOCK:
        _advance(self.current_account, self.region, job)
    response = {k: v for k, v in job.response_object.items() if v not in (None, "", {}, [])}
    return ActionResult(response)


def _advance(account: str, region: str, job: Any) -> None:
    if job.transform_job_status == "InProgress":
        try:
            _run(account, region, job)
            job.transform_job_status = "Completed"
        except TransformFailed as error:
            job.transform_job_status = "Failed"
            job.failure_reason = str(error)
        job.transform_end_time = job.last_modified_time = utcnow()
    elif job.transform_job_status == "Stopping":
        job.transform_job_status = "Stopped"
        job.transform_end_time = job.last_modified_time = utcnow()


def stop_transform_job(self) -> EmptyResult:
    job = _job(self, self._get_param("TransformJobName"))
    if job.transform_job_status in ("Completed", "Failed", "Stopped"):
        raise ValidationException(
            f"Transform job {job.transform_job_name} is {job.transform_job_status} and cannot be stopped."
        )
    job.transform_job_status = "Stopping"
    job.last_modified_time = utcnow()
    return EmptyResult()


HANDLERS = ("create_transform_job", "describe_transform_job", "stop_transform_job")
