"""Batch prediction jobs of one project and region, advanced by the polls that read them.

A job is created PENDING. The next GET reads the input (JSON Lines or CSV with a
header, from Cloud Storage) and fails the job if it cannot, or starts a model
server and goes RUNNING. The first GET after the server is healthy scores every
instance through it and writes, under
``<outputUriPrefix>/prediction-<model>-<timestamp>/``, the files a custom-model
job writes: ``prediction.results-00000-of-00001`` (one ``{"instance",
"prediction"}`` per scored row) and ``prediction.errors_stats-00000-of-00001``
(one ``{"instance", "error": {"code", "message"}}`` per refused row; empty when
none was). It ends SUCCEEDED, or FAILED when no row could be scored. ``cancel``
goes CANCELLING, then CANCELLED.

Create requires ``dedicatedResources`` with a supported machine type (the models
the emulator serves support dedicated resources only, and ``MachineSpec`` says the
type is required for a BatchPredictionJob). Delete is allowed on a job that has
ended (the reference: "Can only be called on jobs that already finished") and
returns an operation named ``projects/P/locations/L/operations/ID``: the v1
Operations API has no ``batchPredictionJobs/*/operations/*`` path, so that is the
name a client can poll.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.vertex._wire import (
    EMPTY,
    ApiError,
    IdSource,
    invalid,
    matches_filter,
    not_found,
    now,
    precondition,
)
from cloudeploy.testing.vertex.machine_types import check_machine_type
from cloudeploy.testing.vertex.models import ModelStore, Version
from cloudeploy.testing.vertex.operations import Operation, OperationStore
from cloudeploy.testing.vertex.runner import ModelServer
from cloudeploy.testing.vertex.storage import Bucketeer, parse_gs_uri

# google.cloud.aiplatform.v1.JobState
PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED = 2, 3, 4, 5, 6, 7
TERMINAL = {SUCCEEDED, FAILED, CANCELLED}
FORMATS = ("jsonl", "csv")
#: Instances per request to the model server.
CHUNK = 1000
#: Output file names of a custom-model job (one shard each), as the service writes them.
RESULTS_FILE = "prediction.results-00000-of-00001"
ERRORS_FILE = "prediction.errors_stats-00000-of-00001"

StartServer = Callable[[Version, str], ModelServer]


@dataclass
class BatchJob:
    name: str
    spec: dict[str, Any]
    version: Version
    model_name: str
    state: int = PENDING
    create_time: str = field(default_factory=now)
    start_time: str = ""
    end_time: str = ""
    update_time: str = ""
    error: dict[str, Any] | None = None
    output_directory: str = ""
    succeeded: int = 0
    failed: int = 0
    instances: list[Any] = field(default_factory=list)
    server: ModelServer | None = None

    @property
    def input_format(self) -> str:
        return self.spec["inputConfig"]["instancesFormat"]

    @property
    def output_format(self) -> str:
        return self.spec["outputConfig"]["predictionsFormat"]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.spec,
            "name": self.name,
            "model": self.model_name,
            "modelVersionId": self.version.version_id,
            "state": self.state,
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
        }
        if self.start_time:
            body["startTime"] = self.start_time
        if self.end_time:
            body["endTime"] = self.end_time
        if self.error:
            body["error"] = self.error
        if self.output_directory:
            body["outputInfo"] = {"gcsOutputDirectory": self.output_directory}
        if self.state in TERMINAL:
            body["completionStats"] = {
                "successfulCount": str(self.succeeded),
                "failedCount": str(self.failed),
            }
        return body


def parse_instances(text: str, instances_format: str, uri: str) -> list[Any]:
    """The instances in one input file; ApiError naming the file and line if malformed."""
    if instances_format == "jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise invalid(f"{uri} line {number} is not valid JSON.") from None
        return rows
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise invalid(f"{uri} is empty; a CSV input needs a header row.")
    rows = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise invalid(
                f"{uri} line {number} has {len(row)} values; the header has {len(header)}."
            )
        rows.append([_number(value) for value in row])
    return rows


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


class BatchJobStore:
    """Batch prediction jobs of one project and region."""

    def __init__(
        self,
        parent: str,
        ids: IdSource,
        models: ModelStore,
        storage: Bucketeer,
        start_server: StartServer,
    ) -> None:
        self.parent = parent
        self._ids = ids
        self._models = models
        self._storage = storage
        self._start_server = start_server
        self._jobs: dict[str, BatchJob] = {}

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST batchPredictionJobs``: validate and queue; the reply is the job itself."""
        if not body.get("displayName"):
            raise invalid("batch_prediction_job.display_name is required.")
        version = self._models.version(body.get("model") or "")
        source = body.get("inputConfig") or {}
        if source.get("instancesFormat") not in FORMATS:
            raise invalid(
                f"Unsupported instances_format {source.get('instancesFormat')!r}; supported: {', '.join(FORMATS)}."
            )
        uris = (source.get("gcsSource") or {}).get("uris") or []
        if not uris:
            raise invalid("input_config.gcs_source.uris must name at least one file.")
        for uri in uris:
            parse_gs_uri(uri)
        destination = dict(body.get("outputConfig") or {})
        destination.setdefault("predictionsFormat", "jsonl")
        if destination["predictionsFormat"] not in FORMATS:
            raise invalid(f"Unsupported predictions_format {destination['predictionsFormat']!r}.")
        prefix = (destination.get("gcsDestination") or {}).get("outputUriPrefix") or ""
        parse_gs_uri(prefix)
        resources = body.get("dedicatedResources") or {}
        if not resources:
            raise invalid(
                "batch_prediction_job.dedicated_resources is required: the model supports dedicated resources only."
            )
        machine_type = (resources.get("machineSpec") or {}).get("machineType") or ""
        if not machine_type:
            raise invalid(
                "batch_prediction_job.dedicated_resources.machine_spec.machine_type is required."
            )
        check_machine_type(
            machine_type, field="batch_prediction_job.dedicated_resources.machine_spec.machine_type"
        )
        spec = {**body, "outputConfig": destination}
        name = f"{self.parent}/batchPredictionJobs/{self._ids.next()}"
        job = BatchJob(
            name=name, spec=spec, version=version, model_name=self._models.model(body["model"]).name
        )
        self._jobs[name] = job
        return job.to_json()

    def job(self, name: str) -> BatchJob:
        job = self._jobs.get(name)
        if job is None:
            raise not_found(f"BatchPredictionJob {name} not found.")
        return job

    def get(self, name: str) -> dict[str, Any]:
        """The job, advanced by one step: this GET is the poll that drives it."""
        job = self.job(name)
        self._advance(job)
        return job.to_json()

    def list(self, filter_expression: str | None = None) -> list[dict[str, Any]]:
        found = [j.to_json() for j in self._jobs.values()]
        return [j for j in found if matches_filter(j, filter_expression)]

    def cancel(self, name: str) -> None:
        job = self.job(name)
        if job.state in TERMINAL:
            raise precondition(
                f"BatchPredictionJob {name} has already ended and cannot be cancelled."
            )
        job.state = CANCELLING
        job.update_time = now()

    def delete(self, name: str, operations: OperationStore) -> Operation:
        """Delete an ended job; the operation is named under the location, not the job."""
        job = self.job(name)
        if job.state not in TERMINAL:
            raise precondition(
                f"BatchPredictionJob {name} has not finished; cancel it and wait for it to end before deleting it."
            )

        def advance() -> dict[str, Any]:
            self._jobs.pop(name, None)
            return EMPTY

        return operations.start(name, "DeleteOperationMetadata", advance, parent=self.parent)

    # -- the work ------------------------------------------------------------

    def _advance(self, job: BatchJob) -> None:
        if job.state in TERMINAL:
            return
        if job.state == CANCELLING:
            self._finish(job, CANCELLED, {"code": 1, "message": "CANCELED"})
        elif job.state == PENDING:
            try:
                job.instances = self._read_input(job)
                job.server = self._start_server(job.version, job.name)
            except ApiError as error:
                self._finish(job, FAILED, error.rpc_status())
                return
            job.state, job.start_time = RUNNING, now()
        else:
            self._run(job)
        job.update_time = now()

    def _read_input(self, job: BatchJob) -> list[Any]:
        instances: list[Any] = []
        for uri in job.spec["inputConfig"]["gcsSource"]["uris"]:
            instances += parse_instances(self._storage.read_text(uri), job.input_format, uri)
        if not instances:
            raise invalid("The input files hold no instances.")
        return instances

    def _run(self, job: BatchJob) -> None:
        assert job.server is not None
        try:
            if not job.server.ready():
                return
        except ApiError as error:
            self._finish(job, FAILED, error.rpc_status())
            return
        scored, errors = [], []
        for start in range(0, len(job.instances), CHUNK):
            chunk = job.instances[start : start + CHUNK]
            try:
                scored += list(zip(chunk, job.server.predict(chunk), strict=True))
            except ApiError:
                for instance in chunk:  # find the rows the model refuses
                    try:
                        scored.append((instance, job.server.predict([instance])[0]))
                    except ApiError as error:
                        errors.append((instance, error.message))
        job.succeeded, job.failed = len(scored), len(errors)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y_%m_%dT%H_%M_%S_%f")[:-3] + "Z"
        prefix = job.spec["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
        job.output_directory = f"{prefix}/prediction-{job.version.display_name}-{stamp}"
        self._write(job, RESULTS_FILE, [{"instance": i, "prediction": p} for i, p in scored])
        self._write(
            job,
            ERRORS_FILE,
            [{"instance": i, "error": {"code": 3, "message": m}} for i, m in errors],
        )
        if scored:
            self._finish(job, SUCCEEDED, None)
        else:
            self._finish(
                job,
                FAILED,
                {"code": 3, "message": f"All {len(errors)} instances failed: {errors[0][1]}"},
            )

    def _write(self, job: BatchJob, file_name: str, rows: list[dict[str, Any]]) -> None:
        if job.output_format == "jsonl":
            text = "".join(json.dumps(row) + "\n" for row in rows)
        else:
            out = io.StringIO()
            writer = csv.writer(out)
            for row in rows:
                instance = row["instance"]
                values = list(instance.values()) if isinstance(instance, dict) else list(instance)
                extra = row["prediction"] if "prediction" in row else row["error"]["message"]
                writer.writerow(
                    [*values, json.dumps(extra) if isinstance(extra, (dict, list)) else extra]
                )
            text = out.getvalue()
        self._storage.write_text(f"{job.output_directory}/{file_name}", text)

    def _finish(self, job: BatchJob, state: int, error: dict[str, Any] | None) -> None:
        if job.server is not None:
            job.server.stop()
            job.server = None
        job.state, job.error, job.end_time = state, error, now()
        job.instances = []

    def servers(self) -> list[ModelServer]:
        return [j.server for j in self._jobs.values() if j.server is not None]

    def clear(self) -> None:
        for job in self._jobs.values():
            if job.server is not None:
                job.server.stop()
        self._jobs.clear()
