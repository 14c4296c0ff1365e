"""Batch prediction on Vertex AI: a BatchPredictionJob per batch job (the provider's batch backend).

``cloudeploy.batch`` checks and stages the input (:func:`cloudeploy.batch.cloudjob.submit_cloud`);
this backend uploads the staged JSON Lines parts of feature arrays under
``<staging_bucket>/batch/<job-id>/input/``, creates the job, and reads the
``prediction.results-*`` objects of ``{"instance": [...], "prediction": ...}``
the job writes under ``<staging_bucket>/batch/<job-id>/output/``. Vertex AI does
not promise to keep the input order, so each prediction is matched back to its
row by the instance it echoes (rows with equal features get equal predictions),
and the ids come from the staged ids. The job is labelled with the job id, so a
re-run finds the job it created instead of starting another.

Crash points (``CLOUDEPLOY_TEST_CRASH_AT``, see :mod:`cloudeploy.crashpoints`):
``vertex.batch.after_create_job`` here, and the shared ``after_register``,
``after_stage``, ``after_job_done`` and ``after_write_output``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import OperationFailed
from cloudeploy.packaging import MANIFEST_NAME, Manifest
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import CloudBatchBackend
from cloudeploy.providers.vertex.errors import translated
from cloudeploy.providers.vertex.storage import GcsObjects

DEFAULT_MACHINE_TYPE = "n1-standard-2"
#: Result shards of a batch job: ``prediction.results-NNNNN-of-MMMMM`` for custom models
#: (``predictions_N.jsonl`` is the AutoML naming).
RESULT_FILE_PREFIXES = ("prediction.results-", "predictions_")
JOB_LABEL = "cloudeploy-batch-job"
# google.cloud.aiplatform.v1.JobState
_STATES = {1: "pending", 2: "pending", 3: "running", 4: "succeeded", 5: "failed", 6: "running", 7: "failed",
           8: "failed", 9: "failed", 10: "running", 11: "succeeded"}


class VertexBatch(CloudBatchBackend):
    """BatchPredictionJobs labelled with the job id; option ``model_name`` (for a package path)."""

    name = "vertex"
    job_kind = "batch prediction job"
    staged_format = "jsonl"
    known_options: frozenset[str] = frozenset({"model_name"})

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._outputs: dict[str, list[dict[str, Any]]] = {}

    def objects(self, scheme: str) -> Any:
        if scheme != "gs":
            return None
        return GcsObjects(self.provider.clients.storage)

    def staging_uri(self, job_id: str) -> str:
        settings = self.provider.settings
        return f"gs://{settings.bucket}/" + "/".join(p for p in (settings.staging_prefix, "batch", job_id) if p)

    def schema_of(self, uri: str) -> Any:
        """The input schema in the manifest stored beside a registered version's model in Cloud Storage."""
        bucket_name, _, prefix = uri[len("gs://"):].partition("/")
        with translated(f"reading {uri}/{MANIFEST_NAME}"):
            blob = self.provider.clients.storage.bucket(bucket_name).blob(f"{prefix.rstrip('/')}/{MANIFEST_NAME}")
            text = blob.download_as_text()
        return Manifest.from_dict(json.loads(text)).schema

    def new_record(self, spec: Any, version: Any, schema: Any) -> dict[str, Any]:
        return {"model_resource": version.provider_id, "vertex_job": ""}

    def start(self, spec: Any, record: dict[str, Any], version: Any, parts: Sequence[int], *,
              save: Callable[[dict[str, Any]], None], progress: ProgressCallback = no_progress) -> None:
        if record["vertex_job"]:
            progress(f"following batch prediction job {record['vertex_job']}")
            return
        record["vertex_job"] = self._existing(spec.job_id) or self._create(spec, record, parts, progress)
        save(record)
        crash_point("vertex.batch.after_create_job")

    def _existing(self, job_id: str) -> str | None:
        with translated("listing batch prediction jobs"):
            found = self.provider.clients.jobs.list_batch_prediction_jobs(
                request={"parent": self.provider.settings.parent, "filter": f'labels.{JOB_LABEL}="{job_id}"'}
            )
            names = [j.name for j in found if j.labels.get(JOB_LABEL) == job_id]
        return names[0] if names else None

    def _create(self, spec: Any, record: dict[str, Any], parts: Sequence[int], progress: ProgressCallback) -> str:
        job_id = spec.job_id
        uris = [f"{record['input_uri']}/part-{index:05d}.jsonl" for index in parts]
        body = {
            "display_name": job_id,
            "model": record["model_resource"],
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": uris}},
            "output_config": {"predictions_format": "jsonl",
                              "gcs_destination": {"output_uri_prefix": record["output_uri"]}},
            "dedicated_resources": {
                "machine_spec": {"machine_type": spec.machine_type or DEFAULT_MACHINE_TYPE},
                "starting_replica_count": spec.replica_count,
                "max_replica_count": spec.max_replica_count,
            },
            "labels": {"cloudeploy-managed": "true", JOB_LABEL: job_id},
        }
        if self.provider.settings.service_account:
            body["service_account"] = self.provider.settings.service_account
        progress(f"creating batch prediction job {job_id} with {record['model']}")
        with translated(f"creating batch prediction job {job_id}"):
            created = self.provider.clients.jobs.create_batch_prediction_job(
                parent=self.provider.settings.parent, batch_prediction_job=body
            )
        return created.name

    def _remote(self, record: dict[str, Any]) -> Any:
        with translated(f"getting batch prediction job {record['vertex_job']}"):
            return self.provider.clients.jobs.get_batch_prediction_job(name=record["vertex_job"])

    def state(self, record: dict[str, Any]) -> tuple[str, str]:
        remote = self._remote(record)
        state = _STATES.get(int(remote.state), "running")
        message = remote.error.message if remote.error and remote.error.message else ""
        if state == "succeeded":
            record["output_directory"] = remote.output_info.gcs_output_directory
        return state, message

    def predictions(self, record: dict[str, Any], index: int, staged: Path) -> Iterable[Any]:
        staged_features = [json.loads(line) for line in staged.read_text().splitlines() if line]
        positions: dict[str, list[int]] = defaultdict(list)
        for position, features in enumerate(staged_features):
            positions[_key(features)].append(position)
        predictions: list[Any] = [None] * len(staged_features)
        found = 0
        for output in self._results(record):
            queue = positions.get(_key(output.get("instance")))
            if queue:
                predictions[queue.pop(0)] = output["prediction"]
                found += 1
        if found != len(staged_features):
            raise OperationFailed(
                f"the batch prediction job returned {found} of {len(staged_features)} predictions for part {index}",
                hint="see the job's prediction.errors_stats-* files in its output directory",
            )
        return predictions

    def _results(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """Every result record (``prediction.results-*``) of the job's output directory (read once, cached)."""
        if record["vertex_job"] in self._outputs:
            return self._outputs[record["vertex_job"]]
        directory = record.get("output_directory") or self._remote(record).output_info.gcs_output_directory
        bucket_name, _, prefix = directory[len("gs://"):].partition("/")
        results = []
        with translated(f"reading predictions under {directory}"):
            for blob in self.provider.clients.storage.list_blobs(bucket_name, prefix=prefix.rstrip("/") + "/"):
                if blob.name.rsplit("/", 1)[-1].startswith(RESULT_FILE_PREFIXES):
                    results += [json.loads(line) for line in blob.download_as_text().splitlines() if line]
        self._outputs[record["vertex_job"]] = results
        return results

    def upload(self, path: Path, uri: str) -> None:
        bucket_name, _, key = uri[len("gs://"):].partition("/")
        with translated(f"uploading {uri}"):
            self.provider.clients.storage.bucket(bucket_name).blob(key).upload_from_filename(str(path))

    def remote_ids(self, record: dict[str, Any]) -> dict[str, str]:
        return {"vertex_job": record["vertex_job"]}


def _key(features: Any) -> str:
    return json.dumps([float(v) for v in features]) if isinstance(features, list) else json.dumps(features)
