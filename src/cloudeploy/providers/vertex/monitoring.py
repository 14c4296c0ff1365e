"""Monitoring hooks of Vertex AI: a model deployment monitoring job does the analysis.

``configure`` creates (or updates) the endpoint's ModelDeploymentMonitoringJob:
one objective per deployed model with the training dataset
(``spec.training_data``) and per-feature skew thresholds, drift thresholds,
the sampling rate, the interval (whole hours) and the alert e-mails, which is
how breaches reach people on Vertex AI. Without ``training_data`` the job
watches drift only (Vertex AI needs the training data for skew).

Vertex AI keeps captured requests in the endpoint's request-response logging:
a BigQuery table (``predictRequestResponseLoggingConfig``; the monitoring job
turns it on at its sampling rate). ``captured`` reads that table with the
BigQuery client (``list_rows``; the window is applied client-side, so a
pass reads the whole table) and rewrites the rows of the version's deployed
model as cloudeploy capture files, so ``monitor run`` and the ``drift``
rollout gate score Vertex AI's own log exactly as they score the local
server's captures. The columns read (``deployed_model_id``, ``logging_time``,
``request_id``, ``request_payload``, ``response_payload``: instances and
predictions as JSON strings) are Google's, as documented to our knowledge.
``monitor run --capture DIR`` still scores an export in cloudeploy's capture
format instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest
from cloudeploy.providers.capabilities import MonitoringHooks
from cloudeploy.providers.vertex import explanations, mapping, request_log
from cloudeploy.providers.vertex.errors import translated
from cloudeploy.providers.vertex.request_log import logging_table

if TYPE_CHECKING:
    from cloudeploy.monitoring.spec import MonitorSpec

#: The job fields cloudeploy sets, for UpdateModelDeploymentMonitoringJob's mask.
UPDATE_MASK = (
    "model_deployment_monitoring_objective_configs,logging_sampling_strategy,"
    "model_deployment_monitoring_schedule_config,model_monitoring_alert_config"
)


class VertexMonitoring(MonitoringHooks):
    def _artifact(self, endpoint: str, version: str) -> tuple[str, Any, str]:
        """``(uri, bucket, prefix)`` of ``version``'s package in Cloud Storage."""
        model = self.provider.get_endpoint(endpoint).model
        uri = self.provider.get_model_version(model, version).uri.rstrip("/")
        bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
        return uri, self.provider.clients.storage.bucket(bucket_name), prefix

    def _manifest_bytes(self, endpoint: str, version: str) -> tuple[str, Any, str, bytes]:
        uri, bucket, prefix = self._artifact(endpoint, version)
        with translated(f"reading {uri}/{MANIFEST_NAME}"):
            raw = bucket.blob(f"{prefix}/{MANIFEST_NAME}".lstrip("/")).download_as_bytes()
        return uri, bucket, prefix, raw

    def manifest(self, endpoint: str, version: str) -> Manifest:
        return Manifest.from_dict(json.loads(self._manifest_bytes(endpoint, version)[3]))

    def package(self, endpoint: str, version: str, folder: Path) -> tuple[Path, Manifest]:
        """The package copied from the bucket: the manifest and every file it lists."""
        uri, bucket, prefix, raw = self._manifest_bytes(endpoint, version)
        manifest = Manifest.from_dict(json.loads(raw))
        (folder / MANIFEST_NAME).write_bytes(raw)
        for name in manifest.files:
            target = (folder / name).resolve()
            if not target.is_relative_to(folder.resolve()):
                continue  # a name leaving the folder is never written
            target.parent.mkdir(parents=True, exist_ok=True)
            with translated(f"reading {uri}/{name}"):
                target.write_bytes(bucket.blob(f"{prefix}/{name}".lstrip("/")).download_as_bytes())
        return folder, manifest

    def captured(self, endpoint: str, version: str, features: Sequence[str], *, since: float | None,
                 until: float | None) -> Iterator[dict[str, Any]]:
        """``version``'s logged requests in ``[since, until)`` (the whole table is read)."""
        table, deployed_id = self._request_log(endpoint, version)
        with translated(f"reading the request-response log {table} of {endpoint}"):
            for row in self.provider.clients.bigquery.list_rows(table):
                if row["deployed_model_id"] != deployed_id:
                    continue
                record = _record(row, list(features), version)
                if record and (since is None or record["ts"] >= since) and (until is None or record["ts"] < until):
                    yield record

    def _request_log(self, endpoint: str, version: str) -> tuple[str, str]:
        """The endpoint's logging table (``project.dataset.table``) and ``version``'s deployed-model id."""
        resource, config = self._logging_config(endpoint)
        if not config.enabled:
            raise ValidationError(
                f"endpoint {endpoint} does not log its requests (request-response logging is off)",
                hint=f"run `cloudeploy monitor configure {endpoint} --provider vertex` (its monitoring job "
                "turns logging on), or enable the endpoint's request-response logging; or score an export "
                f"with `cloudeploy monitor run {endpoint} --capture DIR`",
            )
        deployed = mapping.deployed_versions(resource).get(version)
        if deployed is None:
            raise NotFoundError(f"{version} is not deployed on endpoint {endpoint}: its logged requests "
                                "cannot be told apart from other versions'")
        table = logging_table(config.bigquery_destination.output_uri, resource, self.provider.settings.project)
        return table, deployed.id

    def _logging_config(self, endpoint: str) -> tuple[Any, Any]:
        """The endpoint's ``Endpoint`` proto and its ``predict_request_response_logging_config``."""
        with translated(f"reading the request-response logging settings of {endpoint}"):
            resource = self.provider.clients.endpoints.get_endpoint(name=self._endpoint_resource(endpoint))
        return resource, resource.predict_request_response_logging_config

    def _endpoint_resource(self, endpoint: str) -> str:
        return f"{self.provider.settings.parent}/endpoints/{endpoint}"

    def _job(self, endpoint: str) -> Any | None:
        resource = self._endpoint_resource(endpoint)
        pager = self.provider.clients.jobs.list_model_deployment_monitoring_jobs(
            parent=self.provider.settings.parent)
        return next((job for job in pager if job.endpoint == resource), None)

    def configure(self, endpoint: str, spec: MonitorSpec, *, serving: Callable[[], tuple[str, list[str]]],
                  saved: Any) -> dict[str, Any]:
        status = self.provider.get_endpoint(endpoint)
        _, features = serving()
        explained = self._explained(endpoint)
        job = _job_spec(endpoint, self._endpoint_resource(endpoint),
                        [d.provider_id for d in status.deployments], features, spec, explained=explained)
        jobs = self.provider.clients.jobs
        with translated(f"configuring the monitoring job of {endpoint}"):
            existing = self._job(endpoint)
            if existing is None:
                created = jobs.create_model_deployment_monitoring_job(
                    parent=self.provider.settings.parent, model_deployment_monitoring_job=job)
                name = created.name
            else:
                from google.protobuf import field_mask_pb2

                job.name = name = existing.name
                jobs.update_model_deployment_monitoring_job(
                    model_deployment_monitoring_job=job,
                    update_mask=field_mask_pb2.FieldMask(paths=UPDATE_MASK.split(",")),
                ).result(timeout=600)
        return {"monitoring_job": name, "skew": bool(spec.training_data), "interval_hours": spec.interval_hours,
                "alert_emails": list(spec.alert_emails),
                "feature_attributions": sorted(i for i, on in explained.items() if on)}

    def _explained(self, endpoint: str) -> dict[str, bool]:
        """Deployed model id -> whether its model version has an explanation spec (explanations.py)."""
        resource, _ = self._logging_config(endpoint)
        found = {}
        for deployed in resource.deployed_models:
            with translated(f"reading model {deployed.model}@{deployed.model_version_id}"):
                model = self.provider.clients.models.get_model(name=f"{deployed.model}@{deployed.model_version_id}")
            found[deployed.id] = explanations.has_explanation_spec(model)
        return found

    def status(self, endpoint: str) -> dict[str, Any]:
        with translated(f"reading the monitoring job of {endpoint}"):
            job = self._job(endpoint)
        state = None if job is None else {"name": job.name, "state": job.state.name,
                                          "schedule_state": job.schedule_state.name}
        resource, config = self._logging_config(endpoint)
        logging = {"enabled": config.enabled, "sampling_rate": round(config.sampling_rate, 6),
                   "table": logging_table(config.bigquery_destination.output_uri, resource,
                                          self.provider.settings.project)}
        return {"monitoring_job": state, "request_logging": logging}


def _record(row: Any, features: list[str], version: str) -> dict[str, Any] | None:
    """One log row as a cloudeploy capture record (None when it has no time or an unreadable payload)."""
    call = request_log.parse_row(row)
    if call is None:
        return None
    rows = [[item.get(name) for name in features] if isinstance(item, dict) else item for item in call.instances]
    return {"ts": call.ts, "request_id": call.request_id, "version": version, "features": features,
            "instances": rows, "predictions": call.predictions}


def _thresholds(features: list[str], spec: MonitorSpec, kind: str) -> dict[str, Any]:
    from google.cloud.aiplatform_v1 import types

    return {name: types.ThresholdConfig(value=spec.threshold_for(name, kind)) for name in features}


def _training_dataset(uri: str) -> Any:
    from google.cloud.aiplatform_v1 import types

    Dataset = types.ModelMonitoringObjectiveConfig.TrainingDataset
    if uri.startswith("bq://"):
        return Dataset(bigquery_source=types.BigQuerySource(input_uri=uri))
    return Dataset(gcs_source=types.GcsSource(uris=[uri]), data_format="csv")


def _job_spec(endpoint: str, resource: str, deployed_ids: list[str], features: list[str],
              spec: MonitorSpec, *, explained: dict[str, bool] | None = None) -> Any:
    """The ModelDeploymentMonitoringJob that ``spec`` describes, for every deployed model.

    A deployed model whose version has an explanation spec (``explained``) also gets
    Vertex AI's feature-attribution monitoring, at ``spec.attribution_threshold``.
    """
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import duration_pb2

    Objective = types.ModelMonitoringObjectiveConfig
    objective = Objective(prediction_drift_detection_config=Objective.PredictionDriftDetectionConfig(
        drift_thresholds=_thresholds(features, spec, "drift")))
    if spec.training_data:
        objective.training_dataset = _training_dataset(spec.training_data)
        objective.training_prediction_skew_detection_config = Objective.TrainingPredictionSkewDetectionConfig(
            skew_thresholds=_thresholds(features, spec, "skew"))
    attributed = Objective.deserialize(Objective.serialize(objective))
    attributed.explanation_config = Objective.ExplanationConfig(enable_feature_attributes=True)
    by_feature = {name: types.ThresholdConfig(value=spec.attribution_threshold) for name in features}
    attributed.prediction_drift_detection_config.attribution_score_drift_thresholds = by_feature
    if spec.training_data:
        attributed.training_prediction_skew_detection_config.attribution_score_skew_thresholds = by_feature
    explained = explained or {}
    Sampling = types.SamplingStrategy
    return types.ModelDeploymentMonitoringJob(
        display_name=f"cloudeploy-{endpoint}",
        endpoint=resource,
        model_deployment_monitoring_objective_configs=[
            types.ModelDeploymentMonitoringObjectiveConfig(
                deployed_model_id=i, objective_config=attributed if explained.get(i) else objective)
            for i in deployed_ids
        ],
        logging_sampling_strategy=Sampling(random_sample_config=Sampling.RandomSampleConfig(
            sample_rate=spec.sample_rate)),
        model_deployment_monitoring_schedule_config=types.ModelDeploymentMonitoringScheduleConfig(
            monitor_interval=duration_pb2.Duration(seconds=spec.interval_hours * 3600)),
        model_monitoring_alert_config=types.ModelMonitoringAlertConfig(
            email_alert_config=types.ModelMonitoringAlertConfig.EmailAlertConfig(
                user_emails=list(spec.alert_emails))),
        labels={"cloudeploy-managed": "true"},
    )
