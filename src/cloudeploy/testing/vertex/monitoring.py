"""Model deployment monitoring jobs of one project and region.

Rules checked on create (as the service does): the endpoint exists and serves
at least one deployed model; there is at least one objective, each for a model
deployed on that endpoint, once; skew needs a training dataset; thresholds are
between 0 and 1; the sampling rate is in (0, 1]; the interval is whole hours of
at least one; e-mail addresses look like addresses; an endpoint has at most one
monitoring job. A job is PENDING when created and RUNNING from the next GET on;
``pause`` and ``resume`` move it between RUNNING and PAUSED.

A job logs its endpoint's sampled predictions to BigQuery: it creates dataset
``model_deployment_monitoring_<endpoint id>`` with table ``serving_predict``
(the request-response log columns) and lists it in ``bigqueryTables``
(``logSource`` SERVING, ``logType`` PREDICT, ``bigqueryTablePath``
``bq://<project>.model_deployment_monitoring_<endpoint id>.serving_predict``, the
format the ``ModelDeploymentMonitoringBigQueryTable`` reference gives); see
:meth:`EndpointStore.follow_monitoring_job`.

The emulator stores the configuration faithfully but does not compute
statistics: the analysis itself is cloudeploy's monitoring module's job.
"""

from __future__ import annotations

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
    typed,
)
from cloudeploy.testing.vertex.endpoints import EndpointStore
from cloudeploy.testing.vertex.operations import Operation, OperationStore
from cloudeploy.testing.vertex.request_logging import monitoring_table

# google.cloud.aiplatform.v1.JobState, and ModelDeploymentMonitoringJob.MonitoringScheduleState
PENDING, RUNNING, PAUSED = 2, 3, 8
SCHEDULE_PENDING, SCHEDULE_RUNNING, SCHEDULE_OFFLINE = 1, 3, 2
# ModelDeploymentMonitoringBigQueryTable.LogSource / LogType
LOG_SOURCE_SERVING, LOG_TYPE_PREDICT = 2, 1
UPDATABLE = {
    "displayName",
    "labels",
    "loggingSamplingStrategy",
    "modelDeploymentMonitoringScheduleConfig",
    "modelMonitoringAlertConfig",
    "modelDeploymentMonitoringObjectiveConfigs",
    "enableMonitoringPipelineLogs",
}


@dataclass
class MonitoringJob:
    name: str
    spec: dict[str, Any]
    state: int = PENDING
    create_time: str = field(default_factory=now)
    update_time: str = ""

    def to_json(self) -> dict[str, Any]:
        schedule = {PENDING: SCHEDULE_PENDING, RUNNING: SCHEDULE_RUNNING, PAUSED: SCHEDULE_OFFLINE}[
            self.state
        ]
        return {
            **self.spec,
            "name": self.name,
            "state": self.state,
            "scheduleState": schedule,
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
        }


def _seconds(duration: Any, field_name: str) -> float:
    text = str(duration or "")
    try:
        return float(text[:-1]) if text.endswith("s") else float(text)
    except ValueError:
        raise invalid(f'{field_name} must be a duration like "3600s", got {duration!r}.') from None


def _check_thresholds(thresholds: dict[str, Any], what: str) -> None:
    for feature, threshold in (thresholds or {}).items():
        value = threshold.get("value", 0.0) if isinstance(threshold, dict) else threshold
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise invalid(
                f"{what} threshold for feature {feature!r} must be between 0 and 1, got {value!r}."
            )


def check_spec(spec: dict[str, Any], deployed_ids: set[str], explained: dict[str, bool] | None = None) -> None:
    """Refuse a monitoring configuration the service would refuse, naming the field.

    ``explained``: deployed model id -> whether its model has an ``explanation_spec``
    (feature-attribution monitoring is "only applicable if the Model has
    explanation_spec populated").
    """
    objectives = spec.get("modelDeploymentMonitoringObjectiveConfigs") or []
    if not objectives:
        raise invalid("model_deployment_monitoring_objective_configs must not be empty.")
    seen: set[str] = set()
    for objective in objectives:
        deployed_id = str(objective.get("deployedModelId") or "")
        if deployed_id not in deployed_ids:
            raise invalid(f"Deployed model {deployed_id!r} is not deployed on the endpoint.")
        if deployed_id in seen:
            raise invalid(f"Deployed model {deployed_id} has more than one objective config.")
        seen.add(deployed_id)
        config = objective.get("objectiveConfig") or {}
        skew = config.get("trainingPredictionSkewDetectionConfig")
        drift = config.get("predictionDriftDetectionConfig")
        if not skew and not drift:
            raise invalid(
                f"Objective for deployed model {deployed_id} configures neither skew nor drift detection."
            )
        attributions = bool((config.get("explanationConfig") or {}).get("enableFeatureAttributes"))
        if attributions and explained is not None and not explained.get(deployed_id):
            raise invalid(
                f"Feature attribution monitoring of deployed model {deployed_id} needs an explanation_spec "
                "on its model (explanation_config.enable_feature_attributes is set)."
            )
        for part, field_name in ((skew, "attributionScoreSkewThresholds"), (drift, "attributionScoreDriftThresholds")):
            if part and part.get(field_name) and not attributions:
                raise invalid(
                    f"{field_name} for deployed model {deployed_id} needs "
                    "objective_config.explanation_config.enable_feature_attributes."
                )
        if skew:
            dataset = config.get("trainingDataset") or {}
            if not any(k in dataset for k in ("gcsSource", "bigquerySource", "dataset")):
                raise invalid(
                    f"Skew detection for deployed model {deployed_id} needs objective_config.training_dataset."
                )
            _check_thresholds(skew.get("skewThresholds"), "Skew")
        if drift:
            _check_thresholds(drift.get("driftThresholds"), "Drift")
    schedule = spec.get("modelDeploymentMonitoringScheduleConfig") or {}
    interval = _seconds(schedule.get("monitorInterval"), "monitor_interval")
    if interval < 3600 or interval % 3600:
        raise invalid(
            f"monitor_interval must be a whole number of hours, at least 1; got {interval:g}s."
        )
    sample_rate = (
        ((spec.get("loggingSamplingStrategy") or {}).get("randomSampleConfig")) or {}
    ).get("sampleRate")
    if sample_rate is None or not 0.0 < float(sample_rate) <= 1.0:
        raise invalid(
            f"logging_sampling_strategy.random_sample_config.sample_rate must be in (0, 1], got {sample_rate!r}."
        )
    emails = (((spec.get("modelMonitoringAlertConfig") or {}).get("emailAlertConfig")) or {}).get(
        "userEmails"
    ) or []
    for email in emails:
        local, at, domain = str(email).partition("@")
        if not (local and at and "." in domain):
            raise invalid(f"Invalid alert e-mail address {email!r}.")


def _explained(endpoint: Any) -> dict[str, bool]:
    """Deployed model id -> whether it has an explanation spec (its own, or its model version's)."""
    return {
        deployed_id: bool(deployed.spec.get("explanationSpec") or deployed.version.spec.get("explanationSpec"))
        for deployed_id, deployed in endpoint.deployed.items()
    }


class MonitoringJobStore:
    """Model deployment monitoring jobs of one project and region."""

    def __init__(
        self, parent: str, ids: IdSource, operations: OperationStore, endpoints: EndpointStore
    ) -> None:
        self.parent = parent
        self._ids = ids
        self._operations = operations
        self._endpoints = endpoints
        self._jobs: dict[str, MonitoringJob] = {}

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("displayName"):
            raise invalid("model_deployment_monitoring_job.display_name is required.")
        endpoint = self._endpoints.endpoint(body.get("endpoint") or "")
        if not endpoint.deployed:
            raise precondition(f"Endpoint {endpoint.name} has no deployed models to monitor.")
        for pending in list(self._jobs):
            self._operations.settle(pending)
        if any(j.spec.get("endpoint") == endpoint.name for j in self._jobs.values()):
            raise ApiError(
                "ALREADY_EXISTS",
                f"Endpoint {endpoint.name} already has a model deployment monitoring job.",
            )
        check_spec(body, set(endpoint.deployed), _explained(endpoint))
        name = f"{self.parent}/modelDeploymentMonitoringJobs/{self._ids.next()}"
        tables = [
            {
                "logSource": LOG_SOURCE_SERVING,
                "logType": LOG_TYPE_PREDICT,
                "bigqueryTablePath": monitoring_table(endpoint.name),
            }
        ]
        job = MonitoringJob(
            name=name, spec={**body, "endpoint": endpoint.name, "bigqueryTables": tables}
        )
        self._jobs[name] = job
        return job.to_json()

    def job(self, name: str) -> MonitoringJob:
        self._operations.settle(name)  # a pending delete finishes when the job is read
        job = self._jobs.get(name)
        if job is None:
            raise not_found(f"ModelDeploymentMonitoringJob {name} not found.")
        return job

    def get(self, name: str) -> dict[str, Any]:
        """The job; a PENDING job is RUNNING from this poll on."""
        job = self.job(name)
        if job.state == PENDING:
            job.state, job.update_time = RUNNING, now()
        return job.to_json()

    def list(self, filter_expression: str | None = None) -> list[dict[str, Any]]:
        found = [j.to_json() for j in self._jobs.values()]
        return [j for j in found if matches_filter(j, filter_expression)]

    def pause(self, name: str) -> None:
        job = self.job(name)
        if job.state == PAUSED:
            raise precondition(f"ModelDeploymentMonitoringJob {name} is already paused.")
        job.state, job.update_time = PAUSED, now()

    def resume(self, name: str) -> None:
        job = self.job(name)
        if job.state != PAUSED:
            raise precondition(f"ModelDeploymentMonitoringJob {name} is not paused.")
        job.state, job.update_time = RUNNING, now()

    def update(self, name: str, body: dict[str, Any], update_mask: str | None) -> Operation:
        job = self.job(name)
        fields = [f.strip() for f in (update_mask or "").split(",") if f.strip()]
        if not fields:
            raise invalid("update_mask is required.")
        camel = {
            "display_name": "displayName",
            "logging_sampling_strategy": "loggingSamplingStrategy",
            "model_deployment_monitoring_schedule_config": "modelDeploymentMonitoringScheduleConfig",
            "model_monitoring_alert_config": "modelMonitoringAlertConfig",
            "model_deployment_monitoring_objective_configs": "modelDeploymentMonitoringObjectiveConfigs",
            "enable_monitoring_pipeline_logs": "enableMonitoringPipelineLogs",
        }
        updated = dict(job.spec)
        for path in fields:
            key = camel.get(path, path)
            if key not in UPDATABLE:
                raise invalid(f"update_mask field {path!r} cannot be updated.")
            updated[key] = body.get(key)
        endpoint = self._endpoints.endpoint(job.spec["endpoint"])
        check_spec(updated, set(endpoint.deployed), _explained(endpoint))
        job.spec, job.update_time = updated, now()

        def advance() -> dict[str, Any]:
            return typed("ModelDeploymentMonitoringJob", job.to_json())

        return self._operations.start(
            name, "UpdateModelDeploymentMonitoringJobOperationMetadata", advance
        )

    def delete(self, name: str) -> Operation:
        self.job(name)

        def advance() -> dict[str, Any]:
            self._jobs.pop(name, None)
            return EMPTY

        return self._operations.start(name, "DeleteOperationMetadata", advance)

    def clear(self) -> None:
        self._jobs.clear()
