"""The handle of a batch job that a cloud runs, and the steps every cloud runner shares.

A cloud job has a local job directory too (``<home>/batch/<job-id>``): the
spec, the staged parts' ids, the errors file, and ``status.json`` once the
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
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloudeploy.batch.jobdir import JobDir
from cloudeploy.batch.jobs import BatchJob, BatchStatus
from cloudeploy.batch.spec import BatchSpec, errors_uri
from cloudeploy.batch.staging import Staged, assemble_output, local_destination
from cloudeploy.crashpoints import crash_point


class CloudBatchJob(BatchJob):
    """A job run by a cloud service, followed through its describe call.

    Subclasses say how to read the remote state (:meth:`remote_state`), how to
    read one output part (:meth:`predictions_of`) and how to upload a file
    (:meth:`upload`). When the remote job has succeeded, the first
    :meth:`status` call joins the output with the ids and writes the
    destination; later calls read the recorded result.
    """

    def __init__(self, job: JobDir, provider: Any) -> None:
        self.job = job
        self.job_id = job.job_id
        self.backend = provider
        record = job.record()
        self.spec = BatchSpec.from_dict(record["spec"])
        self.record = record

    @abstractmethod
    def remote_state(self) -> tuple[str, str]:
        """``(state, message)`` of the cloud job: pending, running, succeeded or failed."""

    @abstractmethod
    def predictions_of(self, index: int) -> Iterable[Any]:
        """The predictions of staged part ``index``, in input order."""

    @abstractmethod
    def upload(self, path: Path, uri: str) -> None:
        """Copy the local file ``path`` to the cloud ``uri``."""

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
        return {}

    def _finish(self) -> dict[str, Any]:
        destination = local_destination(self.spec, self.job)
        rows = assemble_output(self.spec, self.job, self.staged, self.predictions_of, destination)
        if "://" in self.spec.destination:
            self.upload(destination, self.spec.destination)
            self.upload(self.job.path / "errors.jsonl", errors_uri(self.spec.destination))
        crash_point(f"{self.provider}.batch.after_write_output")
        return self.job.write_status(state="succeeded", rows=rows, finished_at=time.time(), message="")

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
    from cloudeploy.batch.api import local_home
    from cloudeploy.batch.model import resolve_model, split_reference
    from cloudeploy.packaging import read_manifest

    if Path(spec.model).expanduser().exists():
        resolved = resolve_model(spec.model, None, local_home(provider))
        manifest = read_manifest(resolved.package_dir)
        name = spec.options.get("model_name") or manifest.name
        progress(f"registering {spec.model} as a version of {name}")
        return provider.upload_model(resolved.package_dir, name, progress=progress), manifest.schema
    name, label = split_reference(spec.model)
    version = provider.get_model_version(name, label)
    return version, schema_of(version.uri)

