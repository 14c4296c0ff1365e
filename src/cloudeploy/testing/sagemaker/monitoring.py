"""Monitoring schedules: create, describe, list, update, stop, start, delete.

moto has none of these. A schedule is ``Pending`` when created or updated and
``Scheduled`` once described; StopMonitoringSchedule makes it ``Stopped`` and
StartMonitoringSchedule ``Scheduled`` again. No monitoring job ever runs (Model
Monitor is closed to new customers; cloudeploy computes drift from captured
data itself), so no ``LastMonitoringExecutionSummary`` is reported.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from cloudeploy.testing.sagemaker import backends
from cloudeploy.testing.sagemaker.endpoints import utcnow
from cloudeploy.testing.sagemaker.errors import ResourceInUse, ResourceNotFound, ValidationException
from cloudeploy.testing.sagemaker.state import STATE

SORT_KEYS = {"Name": "name", "CreationTime": "created", "Status": "status"}


@dataclass
class Schedule:
    name: str
    arn: str
    config: dict[str, Any]
    status: str
    created: datetime
    modified: datetime
    tags: list[dict[str, str]]

    @property
    def endpoint_name(self) -> str | None:
        definition = self.config.get("MonitoringJobDefinition") or {}
        for monitoring_input in definition.get("MonitoringInputs", []):
            name = (monitoring_input.get("EndpointInput") or {}).get("EndpointName")
            if name:
                return name
        return None

    @property
    def monitoring_type(self) -> str:
        return self.config.get("MonitoringType", "DataQuality")

    def summary(self) -> dict[str, Any]:
        body = {
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleArn": self.arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "MonitoringScheduleStatus": self.status,
            "MonitoringType": self.monitoring_type,
        }
        if self.endpoint_name:
            body["EndpointName"] = self.endpoint_name
        if self.config.get("MonitoringJobDefinitionName"):
            body["MonitoringJobDefinitionName"] = self.config["MonitoringJobDefinitionName"]
        return body

    def describe(self) -> dict[str, Any]:
        return {**self.summary(), "MonitoringScheduleConfig": copy.deepcopy(self.config)}


def _validate_config(self, config: dict[str, Any] | None) -> dict[str, Any]:
    if not config:
        raise ValidationException("MonitoringScheduleConfig is required")
    has_definition = "MonitoringJobDefinition" in config
    has_name = "MonitoringJobDefinitionName" in config
    if has_definition == has_name:
        raise ValidationException(
            "MonitoringScheduleConfig needs exactly one of MonitoringJobDefinition and MonitoringJobDefinitionName"
        )
    schedule = (config.get("ScheduleConfig") or {}).get("ScheduleExpression")
    if schedule is not None and not (schedule.startswith("cron(") or schedule == "NOW"):
        raise ValidationException(
            f"ScheduleExpression {schedule!r} must be a cron(...) expression or NOW"
        )
    definition = config.get("MonitoringJobDefinition") or {}
    for monitoring_input in definition.get("MonitoringInputs", []):
        endpoint = (monitoring_input.get("EndpointInput") or {}).get("EndpointName")
        if (
            endpoint
            and endpoint not in backends.sagemaker(self.current_account, self.region).endpoints
        ):
            raise ValidationException(
                f"Could not find endpoint 'arn:aws:sagemaker:{self.region}:{self.current_account}:endpoint/{endpoint}'."
            )
    return config


def _schedule(self, name: str) -> Schedule:
    schedule = STATE.schedules.get((self.current_account, self.region, name))
    if schedule is None:
        raise ResourceNotFound(f"Monitoring schedule {name} does not exist.")
    return schedule


def create_monitoring_schedule(self) -> ActionResult:
    name = self._get_param("MonitoringScheduleName")
    config = _validate_config(self, self._get_param("MonitoringScheduleConfig"))
    key = (self.current_account, self.region, name)
    with STATE.lock:
        if key in STATE.schedules:
            raise ResourceInUse(f"Monitoring schedule {name} already exists.")
        now = utcnow()
        arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:monitoring-schedule/{name}"
        STATE.schedules[key] = Schedule(
            name, arn, copy.deepcopy(config), "Pending", now, now, self._get_param("Tags") or []
        )
    return ActionResult({"MonitoringScheduleArn": arn})


def describe_monitoring_schedule(self) -> ActionResult:
    with STATE.lock:
        schedule = _schedule(self, self._get_param("MonitoringScheduleName"))
        if schedule.status == "Pending":
            schedule.status = "Scheduled"
        return ActionResult(schedule.describe())


def list_monitoring_schedules(self) -> ActionResult:
    endpoint = self._get_param("EndpointName")
    contains = self._get_param("NameContains")
    status = self._get_param("StatusEquals")
    kind = self._get_param("MonitoringTypeEquals")
    with STATE.lock:
        found = [
            s
            for (account, region, _), s in STATE.schedules.items()
            if (account, region) == (self.current_account, self.region)
            and (endpoint is None or s.endpoint_name == endpoint)
            and (contains is None or contains in s.name)
            and (status is None or s.status == status)
            and (kind is None or s.monitoring_type == kind)
        ]
    attribute = SORT_KEYS.get(self._get_param("SortBy") or "CreationTime", "created")
    found.sort(
        key=lambda s: getattr(s, attribute), reverse=self._get_param("SortOrder") != "Ascending"
    )
    start = int(self._get_param("NextToken") or 0)
    limit = int(self._get_param("MaxResults") or 100)
    page = found[start : start + limit]
    body: dict[str, Any] = {"MonitoringScheduleSummaries": [s.summary() for s in page]}
    if start + limit < len(found):
        body["NextToken"] = str(start + limit)
    return ActionResult(body)


def update_monitoring_schedule(self) -> ActionResult:
    config = _validate_config(self, self._get_param("MonitoringScheduleConfig"))
    with STATE.lock:
        schedule = _schedule(self, self._get_param("MonitoringScheduleName"))
        schedule.config = copy.deepcopy(config)
        schedule.modified = utcnow()
        if schedule.status != "Stopped":
            schedule.status = "Pending"
    return ActionResult({"MonitoringScheduleArn": schedule.arn})


def stop_monitoring_schedule(self) -> EmptyResult:
    with STATE.lock:
        schedule = _schedule(self, self._get_param("MonitoringScheduleName"))
        schedule.status, schedule.modified = "Stopped", utcnow()
    return EmptyResult()


def start_monitoring_schedule(self) -> EmptyResult:
    with STATE.lock:
        schedule = _schedule(self, self._get_param("MonitoringScheduleName"))
        schedule.status, schedule.modified = "Scheduled", utcnow()
    return EmptyResult()


def delete_monitoring_schedule(self) -> EmptyResult:
    name = self._get_param("MonitoringScheduleName")
    with STATE.lock:
        _schedule(self, name)
        del STATE.schedules[(self.current_account, self.region, name)]
    return EmptyResult()


HANDLERS = (
    "create_monitoring_schedule",
    "describe_monitoring_schedule",
    "list_monitoring_schedules",
    "update_monitoring_schedule",
    "stop_monitoring_schedule",
    "start_monitoring_schedule",
    "delete_monitoring_schedule",
)
