"""Batch prediction on Vertex AI: a BatchPredictionJob from a BatchSpec.

The input is staged (checked row by row, see :mod:`cloudeploy.batch.staging`)
as JSON Lines parts of feature arrays under
``<staging_bucket>/batch/<job-id>/input/``; the job writes
``prediction.results-*`` objects of ``{"instance": [...], "prediction": ...}``
under ``<staging_bucket>/batch/<job-id>/output/``. Vertex AI does not promise
to keep the input order, so each prediction is matched back to its row by the
instance it echoes (rows with equal features get equal predictions), and the
ids come from the staged ids. The job is labelled with the job id, so a re-run
finds the job it created instead of starting another.

Crash points (``CLOUDEPLOY_TEST_CRASH_AT``, see :mod:`cloudeploy.crashpoints`):
``vertex.batch.after_register``, ``after_stage``, ``after_create_job``, and the
shared ``after_job_done`` / ``after_write_output`` of
:class:`~cloudeploy.batch.cloudjob.CloudBatchJob`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudeploy.batch.cloudjob import CloudBatchJob, publish_errors, registered_version
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.batch.staging import stage_input
from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import NotFoundError, OperationFailed
from cloudeploy.providers.base import ProgressCallback, no_progress

DEFAULT_MACHINE_TYPE = "n1-standard-2"
#: Result shards of a batch job: ``prediction.results-NNNNN-of-MMMMM`` for custom models
#: (``predictions_N.jsonl`` is the AutoML naming).
RESULT_FILE_PREFIXES = ("prediction.results-", "predictions_")
JOB_LABEL = "cloudeploy-batch-job"
# google.cloud.aiplatform.v1.JobState
_STATES = {1: "pending", 2: "pending", 3: "running", 4: "succeeded", 5: "failed", 6: "running", 7: "failed",
           8: "failed", 9: "failed", 10: "running", 11: "succeeded"}


class VertexBatchJob(CloudBatchJob):
    """A Vertex AI BatchPredictionJob labelled with the job id."""

    provider = "vertex"

    def _remote(self) -> Any:
        from cloudeploy.providers.vertex.errors import translated

        with translated(f"getting batch prediction job {self.record['vertex_job']}"):
            return self.backend.clients.jobs.get_batch_prediction_job(name=self.record["vertex_job"])

    def remote_state(self) -> tuple[str, str]:
        remote = self._remote()
        state = _STATES.get(int(remote.state), "running")
        message = remote.error.message if remote.error and remote.error.message else ""
        if state == "succeeded":
            self.record["output_directory"] = remote.output_info.gcs_output_directory
        return state, message

    def predictions_of(self, index: int) -> Iterable[Any]:
        staged_features = self._staged_features(index)
        positions: dict[str, list[int]] = defaultdict(list)
        for position, features in enumerate(staged_features):
            positions[_key(features)].append(position)
        predictions: list[Any] = [None] * len(staged_features)
        found = 0
        for record in self._outputs():
            queue = positions.get(_key(record.get("instance")))
            if queue:
                predictions[queue.pop(0)] = record["prediction"]
                found += 1
        if found != len(staged_features):
            raise OperationFailed(
                f"the batch prediction job returned {found} of {len(staged_features)} predictions for part {index}",
                hint="see the job's prediction.errors_stats-* files in its output directory",
            )
        return predictions

    def _staged_features(self, index: int) -> list[list[float]]:
        lines = (self.job.path / "staged" / f"part-{index:05d}.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def _outputs(self) -> list[dict[str, Any]]:
        """Every result record (``prediction.results-*``) of the job's output directory (read once, cached)."""
        cached = getattr(self, "_cached_outputs", None)
        if cached is not None:
            return cached
        from cloudeploy.providers.vertex.errors import translated

        directory = self.record.get("output_directory") or self._remote().output_info.gcs_output_directory
        bucket_name, _, prefix = directory[len("gs://"):].partition("/")
        records = []
        with translated(f"reading predictions under {directory}"):
            for blob in self.backend.clients.storage.list_blobs(bucket_name, prefix=prefix.rstrip("/") + "/"):
                if blob.name.rsplit("/", 1)[-1].startswith(RESULT_FILE_PREFIXES):
                    records += [json.loads(line) for line in blob.download_as_text().splitlines() if line]
        self._cached_outputs = records
        return records

    def upload(self, path: Path, uri: str) -> None:
        from cloudeploy.providers.vertex.errors import translated

        bucket_name, _, key = uri[len("gs://"):].partition("/")
        with translated(f"uploading {uri}"):
            self.backend.clients.storage.bucket(bucket_name).blob(key).upload_from_filename(str(path))

    def remote_ids(self) -> dict[str, str]:
        return {"vertex_job": self.record["vertex_job"]}


def _key(features: Any) -> str:
    return json.dumps([float(v) for v in features]) if isinstance(features, list) else json.dumps(features)


def submit_vertex(
    spec: BatchSpec,
    provider: Any,
    *,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> VertexBatchJob:
    """Stage the input, create the BatchPredictionJob (once), and follow it if ``wait``."""
    from cloudeploy.batch.api import local_home
    from cloudeploy.batch.plan import SourceFiles, derive_job_id
    from cloudeploy.providers.vertex.errors import translated

    source = SourceFiles.of(spec.source, provider)
    version, schema = _model_version(spec, provider, progress)
    crash_point("vertex.batch.after_register")
    job_id = spec.job_id or derive_job_id(spec, version.digest, source.fingerprint)
    spec = spec.with_job_id(job_id)
    job = JobDir(local_home(provider) / job_id)
    base = f"gs://{provider.settings.bucket}/" + "/".join(
        p for p in (provider.settings.staging_prefix, "batch", job_id) if p
    )
    if not job.exists():
        job.create({"spec": spec.to_dict(), "provider": "vertex", "model": version.ref,
                    "model_resource": version.provider_id, "input_uri": f"{base}/input",
                    "output_uri": f"{base}/output", "vertex_job": ""})
    record = job.record()
    storage = provider.clients.storage
    (job.path / "staged").mkdir(exist_ok=True)
    progress(f"checking and staging the input under {record['input_uri']}")

    def upload_part(index: int, features) -> None:
        path = job.path / "staged" / f"part-{index:05d}.jsonl"
        rows = zip(*(features.column(i).to_pylist() for i in range(features.num_columns)), strict=True)
        path.write_text("".join(json.dumps(list(row)) + "\n" for row in rows))
        bucket_name, _, key = f"{record['input_uri']}/{path.name}"[len("gs://"):].partition("/")
        with translated(f"staging gs://{bucket_name}/{key}"):
            storage.bucket(bucket_name).blob(key).upload_from_filename(str(path))

    files = source.materialize(job.path / "input")
    try:
        staged = stage_input(spec, schema, files, job, upload_part, job.path / "errors.jsonl")
    finally:
        publish_errors(spec, job)
    crash_point("vertex.batch.after_stage")
    if not record["vertex_job"]:
        record["vertex_job"] = _existing_job(provider, job_id) or _create(provider, spec, record, staged, progress)
        job.create(record)
        crash_point("vertex.batch.after_create_job")
    else:
        progress(f"following batch prediction job {record['vertex_job']}")
    handle = VertexBatchJob(job, provider)
    if wait:
        handle.wait(timeout, progress=lambda s: progress(f"batch prediction job {job_id}: {s.state}"), interval=1.0)
    return handle


def _existing_job(provider: Any, job_id: str) -> str | None:
    from cloudeploy.providers.vertex.errors import translated

    with translated("listing batch prediction jobs"):
        found = provider.clients.jobs.list_batch_prediction_jobs(
            request={"parent": provider.settings.parent, "filter": f'labels.{JOB_LABEL}="{job_id}"'}
        )
        names = [j.name for j in found if j.labels.get(JOB_LABEL) == job_id]
    return names[0] if names else None


def _create(provider: Any, spec: BatchSpec, record: dict[str, Any], staged, progress: ProgressCallback) -> str:
    from cloudeploy.providers.vertex.errors import translated

    job_id = spec.job_id
    uris = [f"{record['input_uri']}/part-{index:05d}.jsonl" for index in sorted(staged.parts)]
    body = {
        "display_name": job_id,
        "model": record["model_resource"],
        "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": uris}},
        "output_config": {"predictions_format": "jsonl", "gcs_destination": {"output_uri_prefix": record["output_uri"]}},
        "dedicated_resources": {
            "machine_spec": {"machine_type": spec.machine_type or DEFAULT_MACHINE_TYPE},
            "starting_replica_count": spec.replica_count,
            "max_replica_count": spec.max_replica_count,
        },
        "labels": {"cloudeploy-managed": "true", JOB_LABEL: job_id},
    }
    if provider.settings.service_account:
        body["service_account"] = provider.settings.service_account
    progress(f"creating batch prediction job {job_id} with {record['model']}")
    with translated(f"creating batch prediction job {job_id}"):
        created = provider.clients.jobs.create_batch_prediction_job(
            parent=provider.settings.parent, batch_prediction_job=body
        )
    return created.name


def vertex_job(job_id: str, provider: Any) -> VertexBatchJob:
    from cloudeploy.batch.api import local_home

    job = JobDir(local_home(provider) / job_id)
    if not job.exists():
        raise NotFoundError(f"no Vertex AI batch job {job_id!r} recorded under {local_home(provider)}")
    return VertexBatchJob(job, provider)


def _model_version(spec: BatchSpec, provider: Any, progress: ProgressCallback):
    """The registered version to run and its input schema (uploading a local package first)."""
    return registered_version(spec, provider, progress, lambda uri: _schema_from_artifact(provider, uri))


def _schema_from_artifact(provider: Any, uri: str):
    """The input schema in the manifest stored beside a registered version's model in Cloud Storage."""
    from cloudeploy.packaging import MANIFEST_NAME, Manifest
    from cloudeploy.providers.vertex.errors import translated

    bucket_name, _, prefix = uri[len("gs://"):].partition("/")
    with translated(f"reading {uri}/{MANIFEST_NAME}"):
        text = provider.clients.storage.bucket(bucket_name).blob(f"{prefix.rstrip('/')}/{MANIFEST_NAME}").download_as_text()
    return Manifest.from_dict(json.loads(text)).schema
