"""The handle of a batch job that a cloud runs, and the steps every cloud runner shares.

The cloud-specific steps are a provider's
:class:`~cloudeploy.providers.capabilities.CloudBatchBackend` (its primitives:
stage, start, state, predictions); :func:`submit_cloud` is the one sequence
every cloud follows. A cloud job has a local job directory too
(``<home>/batch/<job-id>``): the spec, the staged parts' ids, the errors file, and ``status.json`` once the
output is assembled. The cloud job's name is the job id, so running the same
spec again finds the job already created (or finished) instead of starting a
second one. Crash points ``<provider>.batch.after_job_done`` (the cloud job has
succeeded, its output is not read yet) and ``<provider>.batch.after_write_output``
(the destination is written, the job not yet recorded as finished) mark the
shared steps; see :mod:`cloudeploy.crashpoints`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.batch import records
from cloudeploy.batch.home import local_home
from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.jobs import BatchJob, BatchStatus
from cloudeploy.batch.model import resolve_model, split_reference
from cloudeploy.batch.plan import SourceFiles, derive_job_id, resolve_carry
from cloudeploy.batch.spec import BatchSpec, errors_uri
from cloudeploy.batch.staging import (
    Staged,
    assemble_output,
    csv_lines,
    local_destination,
    stage_input,
)
from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import NotFoundError
from cloudeploy.packaging.manifest import read_manifest
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import CloudBatchBackend

pa = lazy.module("pyarrow")
pq = lazy.module("pyarrow.parquet")


class CloudBatchJob(BatchJob):
    """A job run by a cloud service, followed through its backend's primitives.

    When the remote job has succeeded, the first :meth:`status` call joins the
    output with the ids and writes the destination; later calls read the
    recorded result.
    """

    def __init__(self, job: JobDir, backend: CloudBatchBackend) -> None:
        self.job = job
        self.job_id = job.job_id
        self.backend = backend
        self.provider = backend.name
        record = job.record()
        self.spec = BatchSpec.from_dict(record["spec"])
        self.record = record

    def remote_state(self) -> tuple[str, str]:
        """``(state, message)`` of the cloud job: pending, running, succeeded or failed."""
        return self.backend.state(self.record)

    def predictions_of(self, index: int) -> Iterable[Any]:
        """The predictions of staged part ``index``, in input order."""
        return self.backend.predictions(self.record, index, staged_path(self.job, self.backend, index))

    def upload(self, path: Path, uri: str) -> None:
        self.backend.upload(path, uri)

    @property
    def staged(self) -> Staged:
        return Staged.from_dict(json.loads((self.job.path / "staged.json").read_text()))

    def status(self) -> BatchStatus:
        recorded = self.job.status_record()
        staged = self.staged
        if recorded.get("state") not in ("succeeded", "failed"):
            state, message = self.remote_state()
            if state == "succeeded":
                crash_point(f"{self.provider}.batch.after_job_done")
                recorded = self._finish()
            else:
                recorded = {"state": state, "message": message}
        total = len(staged.parts)
        succeeded = recorded["state"] == "succeeded"
        return BatchStatus(
            job_id=self.job_id,
            provider=self.provider,
            state=recorded["state"],
            chunks_done=total if succeeded else 0,
            chunks_total=total,
            rows=staged.records if succeeded else 0,
            failed_rows=staged.failed,
            message=recorded.get("message", ""),
            outputs=(self.spec.destination,) if succeeded else (),
            errors=errors_uri(self.spec.destination),
            extra={"job_dir": str(self.job.path), **self.remote_ids()},
        )

    def remote_ids(self) -> dict[str, str]:
        """Identifiers of the cloud resources, shown in status reports."""
        return self.backend.remote_ids(self.record)

    def _finish(self) -> dict[str, Any]:
        # A runner other than the submitter (restored from the state store) fetches what the join reads.
        parts = sorted(self.staged.parts)
        records.fetch_staged(
            self.backend.provider, self.job, [staged_path(self.job, self.backend, i) for i in parts],
            [self.job.path / "ids" / f"part-{i:05d}.parquet" for i in parts] if self.spec.carry_columns else [],
        )
        destination = local_destination(self.spec, self.job)
        rows = assemble_output(self.spec, self.job, self.staged, self.predictions_of, destination)
        if "://" in self.spec.destination:
            self.upload(destination, self.spec.destination)
            self.upload(self.job.path / "errors.jsonl", errors_uri(self.spec.destination))
        crash_point(f"{self.provider}.batch.after_write_output")
        status = self.job.write_status(state="succeeded", rows=rows, finished_at=time.time(), message="")
        records.publish(self.backend.provider, self.job)
        return status

    def outputs(self) -> list[str]:
        return list(self.status().outputs)

    def errors(self) -> list[dict[str, Any]]:
        path = self.job.path / "errors.jsonl"
        if not path.is_file():
            return []
        with path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]


def publish_errors(spec: BatchSpec, job: JobDir) -> None:
    """Copy the errors file beside a local destination (cloud destinations get it when the job ends)."""
    if "://" in spec.destination or not (job.path / "errors.jsonl").is_file():
        return
    target = Path(os.path.abspath(errors_uri(spec.destination)))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(job.path / "errors.jsonl", target)


def registered_version(spec: BatchSpec, provider: Any, progress: Any, schema_of: Any):
    """The registered version a cloud job runs, and its input schema.

    A local model file or package directory is uploaded first (as a version of
    the manifest's name, or ``options["model_name"]``); a registry reference
    (``name``, ``name@v3``, ``name@alias``) is resolved, and ``schema_of(uri)``
    reads the schema from the stored artifact.
    """
    if Path(spec.model).expanduser().exists():
        resolved = resolve_model(spec.model, None, local_home(provider))
        manifest = read_manifest(resolved.package_dir)
        name = spec.options.get("model_name") or manifest.name  # checked by submit (batch/api.py)
        progress(f"registering {spec.model} as a version of {name}")
        return provider.upload_model(resolved.package_dir, name, progress=progress), manifest.schema
    name, label = split_reference(spec.model)
    version = provider.get_model_version(name, label)
    return version, schema_of(version.uri)



def staged_path(job: JobDir, backend: CloudBatchBackend, index: int) -> Path:
    """The local copy of staged part ``index`` (``staged/part-NNNNN.<format>``)."""
    return job.path / "staged" / f"part-{index:05d}.{backend.staged_format}"


def submit_cloud(
    spec: BatchSpec,
    backend: CloudBatchBackend,
    *,
    wait: bool = True,
    timeout: float | None = None,
    progress: ProgressCallback = no_progress,
) -> CloudBatchJob:
    """Stage the input, have ``backend`` create the remote job (once), and follow it if ``wait``.

    Crash points ``<name>.batch.after_register`` and ``after_stage`` mark the
    shared steps (the backend marks its own).
    """
    provider = backend.provider
    source = SourceFiles.of(spec.source, provider)
    if spec.carries_all:
        # The cloud job takes explicit names; the input's header (or footer) says them.
        spec = resolve_carry(spec, source)
    version, schema = registered_version(spec, provider, progress, backend.schema_of)
    crash_point(f"{backend.name}.batch.after_register")
    job_id = spec.job_id or derive_job_id(spec, version.digest, source.fingerprint)
    spec = spec.with_job_id(job_id)
    job = JobDir(local_home(provider) / job_id)
    base = backend.staging_uri(job_id)
    if not job.exists():
        job.create({"spec": spec.to_dict(), "provider": backend.name, "model": version.ref,
                    "input_uri": f"{base}/input", "output_uri": f"{base}/output",
                    **backend.new_record(spec, version, schema)})
    record = job.record()
    (job.path / "staged").mkdir(exist_ok=True)
    progress(f"checking and staging the input under {record['input_uri']}")

    def upload_part(index: int, features: Any) -> None:
        path = staged_path(job, backend, index)
        if backend.staged_format == "jsonl":
            rows = zip(*(features.column(i).to_pylist() for i in range(features.num_columns)), strict=True)
            path.write_text("".join(json.dumps(list(row)) + "\n" for row in rows))
        else:
            if spec.carry_columns:  # staging wrote this part's ids before asking for its upload
                features = _with_ids(_staged_ids(job, index), features)
            path.write_bytes(csv_lines(features))
        backend.upload(path, f"{record['input_uri']}/{path.name}")
        if spec.carry_columns:  # for a runner that joins the output without this directory
            ids = job.path / "ids" / f"part-{index:05d}.parquet"
            backend.upload(ids, f"{records.staged_uris(record)['ids']}/{ids.name}")

    files = source.materialize(job.path / "input")
    errors = job.path / "errors.jsonl"
    try:
        # The refused rows go to the bucket with the staging, once: for a runner that joins the output.
        staged = stage_input(spec, schema, files, job, upload_part, errors,
                             before_marker=lambda: backend.upload(errors, records.staged_uris(record)["errors"]))
    finally:
        publish_errors(spec, job)
    crash_point(f"{backend.name}.batch.after_stage")
    backend.start(spec, record, version, sorted(staged.parts), save=job.create, progress=progress)
    records.publish(provider, job)
    handle = CloudBatchJob(job, backend)
    if wait:
        handle.wait(timeout, progress=lambda s: progress(f"{backend.job_kind} {job_id}: {s.state}"), interval=1.0)
    return handle


def cloud_job(job_id: str, backend: CloudBatchBackend) -> CloudBatchJob:
    """The recorded job ``job_id``: this machine's job directory, else the provider's record
    of it (a job submitted from another runner); NotFoundError when neither has it."""
    home = local_home(backend.provider)
    job = JobDir(home / job_id)
    if not job.exists() and records.restore(backend.provider, job_id, home) is None:
        raise NotFoundError(f"no {backend.name} batch job {job_id!r}: none recorded under {home} "
                            "nor in the provider's state store")
    return CloudBatchJob(job, backend)


def _staged_ids(job: JobDir, index: int) -> Any:
    """The carried columns of staged part ``index`` (written by staging, in row order)."""
    return pq.read_table(job.path / "ids" / f"part-{index:05d}.parquet")


def _with_ids(ids: Any, features: Any) -> Any:
    """One table: the carried columns, then the features (names may repeat)."""
    return pa.Table.from_arrays([*ids.columns, *features.columns], names=[*ids.column_names, *features.column_names])
