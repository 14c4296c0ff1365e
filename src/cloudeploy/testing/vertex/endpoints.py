"""Endpoints of one project and region: deployed models, traffic, predictions.

Rules the real service enforces and this store does too:

- an endpoint id is a slug (``[a-z][a-z0-9-]{0,61}[a-z0-9]``) or up to 10 digits,
  unique in its project and region;
- a traffic split names deployed models only, with whole percents summing to 100
  (or is empty when the endpoint serves nothing);
- ``minReplicaCount`` >= 1; the machine type (default ``n1-standard-2``) is one
  Vertex AI serves predictions on (:mod:`~cloudeploy.testing.vertex.machine_types`);
- a model is undeployed only if it has no traffic, is the last one, or the
  request's new split takes its traffic away;
- an endpoint with deployed models cannot be deleted.

``predictRequestResponseLoggingConfig`` is set on create or by the update mask
``predict_request_response_logging_config``, and a model deployment monitoring
job turns it on (see :meth:`EndpointStore.follow_monitoring_job`); predict
calls are then logged to BigQuery by :mod:`~cloudeploy.testing.vertex.request_logging`.

A deploy starts a real model server at once; its operation finishes on the first
poll after the server is healthy, and only then does the deployed model appear
with its share of traffic. A failed deploy changes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.vertex import request_logging
from cloudeploy.testing.vertex._wire import (
    EMPTY,
    ApiError,
    IdSource,
    as_int,
    invalid,
    matches_filter,
    not_found,
    now,
    precondition,
    typed,
)
from cloudeploy.testing.vertex.bigquery import BigQueryStore
from cloudeploy.testing.vertex.machine_types import DEFAULT_DEPLOY_MACHINE_TYPE, check_machine_type
from cloudeploy.testing.vertex.models import ModelStore, Version
from cloudeploy.testing.vertex.operations import Operation, OperationStore
from cloudeploy.testing.vertex.runner import ModelServer, stop_all

_ENDPOINT_ID_RE = re.compile(r"^(?:[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,9})$")
#: Seconds a model server may take to answer /health before the deploy fails.
DEPLOY_DEADLINE = 120.0
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
KNOWN_METRICS = {
    CPU_METRIC,
    "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle",
    "aiplatform.googleapis.com/prediction/online/request_count",
}
ENDPOINT_FIELDS = (
    "displayName",
    "description",
    "labels",
    "network",
    "encryptionSpec",
    "dedicatedEndpointEnabled",
)

StartServer = Callable[[Version, str], ModelServer]
_CAMEL = {
    "min_replica_count": "minReplicaCount",
    "max_replica_count": "maxReplicaCount",
    "autoscaling_metric_specs": "autoscalingMetricSpecs",
}


@dataclass
class DeployedModel:
    id: str
    version: Version
    model_name: str
    spec: dict[str, Any]
    server: ModelServer
    create_time: str = field(default_factory=now)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.spec,
            "id": self.id,
            "model": self.model_name,
            "modelVersionId": self.version.version_id,
            "displayName": self.spec.get("displayName") or self.version.display_name,
            "createTime": self.create_time,
        }


@dataclass
class Endpoint:
    name: str
    spec: dict[str, Any]
    deployed: dict[str, DeployedModel] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    create_time: str = field(default_factory=now)
    update_time: str = ""
    #: Smooth weighted round-robin state, so a 90/10 split is exactly 90/10 per 100 calls.
    _credit: dict[str, int] = field(default_factory=dict)
    #: The monitoring job's logging config (its serving_predict table), when one watches
    #: an endpoint that already logged to a table of its own.
    monitoring_log: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body = {
            **self.spec,
            "name": self.name,
            "deployedModels": [d.to_json() for d in self.deployed.values()],
            "trafficSplit": dict(self.traffic),
            "createTime": self.create_time,
            "updateTime": self.update_time or self.create_time,
            "etag": f"{len(self.deployed)}-{sorted(self.traffic.items())}",
        }
        if not body["deployedModels"]:
            del body["deployedModels"]
        return body

    def pick(self) -> DeployedModel:
        """The deployed model the next request goes to, by the traffic split."""
        weights = {k: v for k, v in self.traffic.items() if v > 0 and k in self.deployed}
        if not weights:
            raise precondition(f"Endpoint {self.name} has no deployed model receiving traffic.")
        for key, weight in weights.items():
            self._credit[key] = self._credit.get(key, 0) + weight
        chosen = max(weights, key=lambda k: self._credit[k])
        self._credit[chosen] -= sum(weights.values())
        return self.deployed[chosen]


def _check_split(split: dict[str, Any], allowed: set[str], what: str) -> dict[str, int]:
    cleaned: dict[str, int] = {}
    for key, value in split.items():
        if key not in allowed:
            raise invalid(
                f"{what} refers to deployed model {key!r}, which is not deployed on this endpoint."
            )
        percent = as_int(value, f"traffic for {key}")
        if percent < 0 or percent > 100:
            raise invalid(f"{what}: traffic for {key} must be between 0 and 100, got {percent}.")
        cleaned[key] = percent
    if cleaned and sum(cleaned.values()) != 100:
        raise invalid(f"{what} must sum to 100, got {sum(cleaned.values())}: {cleaned}.")
    return cleaned


class EndpointStore:
    """Endpoints of one project and region (``parent`` is ``projects/P/locations/L``)."""

    def __init__(
        self,
        parent: str,
        ids: IdSource,
        operations: OperationStore,
        models: ModelStore,
        start_server: StartServer,
        request_log: request_logging.RequestLog | None = None,
    ) -> None:
        self.parent = parent
        self.request_log = request_log or request_logging.RequestLog(BigQueryStore())
        self._ids = ids
        self._operations = operations
        self._models = models
        self._start_server = start_server
        self._endpoints: dict[str, Endpoint] = {}
        #: Servers of deploys still in progress, so reset() stops them too.
        self._starting: dict[str, ModelServer] = {}

    def _name(self, name_or_id: str) -> str:
        endpoint_id = name_or_id.rsplit("/endpoints/", 1)[-1]
        return f"{self.parent}/endpoints/{endpoint_id}"

    def endpoint(self, name: str, *, settle: bool = True) -> Endpoint:
        name = self._name(name)
        if settle:
            self._operations.settle(name)
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise not_found(f"Endpoint {name} not found.")
        return endpoint

    # -- create / read / update / delete -------------------------------------

    def create(self, body: dict[str, Any], endpoint_id: str | None) -> Operation:
        if not body.get("displayName"):
            raise invalid("endpoint.display_name is required.")
        endpoint_id = endpoint_id or self._ids.next()
        if not _ENDPOINT_ID_RE.match(endpoint_id):
            raise invalid(
                f"Invalid endpoint id {endpoint_id!r}: use a letter followed by up to 62 of [a-z0-9-] "
                "(not ending in '-'), or up to 10 digits."
            )
        name = self._name(endpoint_id)
        if name in self._endpoints or self._operations.pending(name):
            raise ApiError("ALREADY_EXISTS", f"Endpoint {name} already exists.")
        spec = {k: body[k] for k in ENDPOINT_FIELDS if k in body}
        if request_logging.FIELD in body:
            spec[request_logging.FIELD] = request_logging.resolve(
                body[request_logging.FIELD], name, body["displayName"]
            )

        def advance() -> dict[str, Any]:
            if request_logging.FIELD in spec:
                self.request_log.apply(name, spec[request_logging.FIELD])
            endpoint = Endpoint(name=name, spec=spec)
            self._endpoints[name] = endpoint
            return typed("Endpoint", endpoint.to_json())

        return self._operations.start(name, "CreateEndpointOperationMetadata", advance)

    def get(self, name: str) -> dict[str, Any]:
        return self.endpoint(name).to_json()

    def list(self, filter_expression: str | None = None) -> list[dict[str, Any]]:
        for name in list(self._endpoints):
            self._operations.settle(name)
        found = [e.to_json() for e in self._endpoints.values()]
        return [e for e in found if matches_filter(e, filter_expression)]

    def patch(self, name: str, body: dict[str, Any], update_mask: str | None) -> dict[str, Any]:
        """``PATCH endpoints/ID``: the reply is the endpoint, not an operation."""
        endpoint = self.endpoint(name)
        fields = [f.strip() for f in (update_mask or "").split(",") if f.strip()]
        if not fields:
            raise invalid("update_mask is required.")
        camel = {
            "traffic_split": "trafficSplit",
            "display_name": "displayName",
            "predict_request_response_logging_config": request_logging.FIELD,
        }
        changes: dict[
            str, Any
        ] = {}  # all checked before any is applied: a refused PATCH changes nothing
        for path in fields:
            key = camel.get(path, path)
            if key == "trafficSplit":
                # An empty split is allowed: the endpoint keeps its models but serves nothing.
                changes[key] = _check_split(
                    body.get("trafficSplit") or {}, set(endpoint.deployed), "traffic_split"
                )
            elif key in ("displayName", "description", "labels"):
                if key == "displayName" and not body.get(key):
                    raise invalid("endpoint.display_name must not be empty.")
                changes[key] = body.get(key)
            elif key == request_logging.FIELD:
                display_name = changes.get("displayName") or endpoint.spec["displayName"]
                changes[key] = request_logging.resolve(
                    body.get(key) or {}, endpoint.name, display_name
                )
            else:
                raise invalid(f"update_mask field {path!r} cannot be updated.")
        for key, value in changes.items():
            if key == "trafficSplit":
                endpoint.traffic = value
                endpoint._credit.clear()
            else:
                endpoint.spec[key] = value
            if key == request_logging.FIELD:
                self.request_log.apply(endpoint.name, value)
        endpoint.update_time = now()
        return endpoint.to_json()

    def delete(self, name: str) -> Operation:
        endpoint = self.endpoint(name)
        if endpoint.deployed:
            raise precondition(
                f"Endpoint {endpoint.name} has deployed models ({', '.join(endpoint.deployed)}); "
                "undeploy them before deleting the endpoint."
            )

        def advance() -> dict[str, Any]:
            self._endpoints.pop(endpoint.name, None)
            return EMPTY

        return self._operations.start(endpoint.name, "DeleteOperationMetadata", advance)

    # -- deploy / undeploy ----------------------------------------------------

    def deploy(self, name: str, body: dict[str, Any]) -> Operation:
        endpoint = self.endpoint(name)
        request = dict(body.get("deployedModel") or {})
        version = self._models.version(request.get("model") or "")
        spec = self._check_resources(request)
        for key in (
            "displayName",
            "serviceAccount",
            "enableAccessLogging",
            "disableContainerLogging",
        ):
            if key in request:
                spec[key] = request[key]
        dm_id = self._ids.next()
        new_split = self._split_after_deploy(endpoint, body.get("trafficSplit"), dm_id)
        server = self._start_server(version, dm_id)
        self._starting[dm_id] = server
        started = time.monotonic()
        model_name = self._models.model(request["model"]).name

        def advance() -> dict[str, Any] | None:
            try:
                if not server.ready():
                    if time.monotonic() - started > DEPLOY_DEADLINE:
                        raise precondition(
                            f"Model server did not become healthy within {DEPLOY_DEADLINE:g}s: {server.output()[-2000:]}"
                        )
                    return None
            except ApiError:
                self._starting.pop(dm_id, None)
                server.stop()
                raise
            self._starting.pop(dm_id, None)
            deployed = DeployedModel(
                id=dm_id, version=version, model_name=model_name, spec=spec, server=server
            )
            endpoint.deployed[dm_id] = deployed
            endpoint.traffic = {k: v for k, v in new_split.items() if k in endpoint.deployed}
            endpoint._credit.clear()
            endpoint.update_time = now()
            version.deployments.append((endpoint.name, dm_id))
            return typed("DeployModelResponse", {"deployedModel": deployed.to_json()})

        return self._operations.start(
            endpoint.name, "DeployModelOperationMetadata", advance, probe=server.ready
        )

    def _check_resources(self, request: dict[str, Any]) -> dict[str, Any]:
        if "automaticResources" in request and "dedicatedResources" not in request:
            raise invalid(
                "Model does not support automatic resources; specify dedicated_resources with a machine type."
            )
        resources = dict(request.get("dedicatedResources") or {})
        if not resources:
            raise invalid("deployed_model.dedicated_resources is required for this model.")
        machine_spec = dict(resources.get("machineSpec") or {})
        machine_spec.setdefault("machineType", DEFAULT_DEPLOY_MACHINE_TYPE)
        check_machine_type(
            machine_spec["machineType"],
            field="deployed_model.dedicated_resources.machine_spec.machine_type",
        )
        resources["machineSpec"] = machine_spec
        minimum = as_int(resources.get("minReplicaCount"), "min_replica_count")
        if minimum < 1:
            raise invalid(f"min_replica_count must be greater than or equal to 1, got {minimum}.")
        maximum = max(as_int(resources.get("maxReplicaCount"), "max_replica_count"), minimum)
        resources["minReplicaCount"], resources["maxReplicaCount"] = minimum, maximum
        for metric in resources.get("autoscalingMetricSpecs") or []:
            if metric.get("metricName") not in KNOWN_METRICS:
                raise invalid(f"Unsupported autoscaling metric {metric.get('metricName')!r}.")
            target = as_int(metric.get("target"), "autoscaling target")
            if metric["metricName"] == CPU_METRIC and not 1 <= target <= 100:
                raise invalid(f"CPU utilization target must be between 1 and 100, got {target}.")
            if target < 1:
                raise invalid(f"Autoscaling target must be positive, got {target}.")
        return {"dedicatedResources": resources}

    @staticmethod
    def _split_after_deploy(
        endpoint: Endpoint, split: dict[str, Any] | None, dm_id: str
    ) -> dict[str, int]:
        """The split once the deploy finishes; key ``"0"`` is the model being deployed."""
        if not split:
            if not endpoint.deployed:
                return {dm_id: 100}
            return {**endpoint.traffic, dm_id: 0}
        cleaned = _check_split(split, {*endpoint.deployed, "0"}, "traffic_split")
        return {(dm_id if k == "0" else k): v for k, v in cleaned.items()}

    def undeploy(self, name: str, body: dict[str, Any]) -> Operation:
        endpoint = self.endpoint(name)
        dm_id = str(body.get("deployedModelId") or "")
        if dm_id not in endpoint.deployed:
            raise not_found(f"Deployed model {dm_id!r} not found on endpoint {endpoint.name}.")
        remaining = set(endpoint.deployed) - {dm_id}
        if body.get("trafficSplit"):
            split = _check_split(body["trafficSplit"], set(endpoint.deployed), "traffic_split")
            if split.get(dm_id, 0) > 0:
                raise precondition(
                    f"The new traffic_split still sends {split[dm_id]}% to deployed model {dm_id}, which is being undeployed."
                )
            split.pop(dm_id, None)
        elif endpoint.traffic.get(dm_id, 0) > 0 and remaining:
            raise precondition(
                f"Deployed model {dm_id} receives {endpoint.traffic[dm_id]}% of the traffic of {endpoint.name}; "
                "move its traffic to other deployed models first, or pass a new traffic_split."
            )
        else:
            split = {k: v for k, v in endpoint.traffic.items() if k != dm_id}
            if not remaining:
                split = {}

        def advance() -> dict[str, Any]:
            deployed = endpoint.deployed.pop(dm_id, None)
            if deployed is not None:
                deployed.server.stop()
                if (endpoint.name, dm_id) in deployed.version.deployments:
                    deployed.version.deployments.remove((endpoint.name, dm_id))
            endpoint.traffic = {k: v for k, v in split.items() if k in endpoint.deployed}
            endpoint._credit.clear()
            endpoint.update_time = now()
            return typed("UndeployModelResponse", {})

        return self._operations.start(endpoint.name, "UndeployModelOperationMetadata", advance)

    def mutate(self, name: str, body: dict[str, Any]) -> Operation:
        """``:mutateDeployedModel``: change replicas or autoscaling of a deployed model in place."""
        endpoint = self.endpoint(name)
        request = body.get("deployedModel") or {}
        dm_id = str(request.get("id") or "")
        deployed = endpoint.deployed.get(dm_id)
        if deployed is None:
            raise not_found(f"Deployed model {dm_id!r} not found on endpoint {endpoint.name}.")
        mask = body.get("updateMask") or ""
        paths = mask.get("paths", []) if isinstance(mask, dict) else mask.split(",")
        fields = {p.strip().split(".")[-1] for p in paths if p.strip()}
        mutable = {"minReplicaCount", "maxReplicaCount", "autoscalingMetricSpecs"}
        fields = {_CAMEL.get(f, f) for f in fields}
        if not fields or not fields <= mutable:
            raise invalid(
                f"update_mask may only name dedicated_resources.{{{', '.join(sorted(mutable))}}}."
            )
        wanted = dict(request.get("dedicatedResources") or {})
        resources = {**deployed.spec["dedicatedResources"], **{f: wanted.get(f) for f in fields}}
        resources = {k: v for k, v in resources.items() if v is not None}  # omitted = cleared
        checked = self._check_resources({"dedicatedResources": resources})

        def advance() -> dict[str, Any]:
            deployed.spec.update(checked)
            endpoint.update_time = now()
            return typed("MutateDeployedModelResponse", {"deployedModel": deployed.to_json()})

        return self._operations.start(
            endpoint.name, "MutateDeployedModelOperationMetadata", advance
        )

    # -- predictions ----------------------------------------------------------

    def route(self, name: str, deployed_model_id: str | None = None) -> DeployedModel:
        """The deployed model that serves the next request (by split, or the one asked for)."""
        endpoint = self.endpoint(name)
        if not endpoint.deployed:
            raise precondition(f"Endpoint {endpoint.name} does not have any deployed models.")
        if deployed_model_id is not None:
            deployed = endpoint.deployed.get(deployed_model_id)
            if deployed is None:
                raise not_found(
                    f"Deployed model {deployed_model_id} not found on endpoint {endpoint.name}."
                )
            return deployed
        return endpoint.pick()

    def log_prediction(
        self, name: str, deployed_model_id: str, instances: list[Any], predictions: list[Any]
    ) -> bool:
        """Log an answered predict call if the endpoint logs requests and samples this one."""
        endpoint = self._endpoints.get(self._name(name))
        if endpoint is None:
            return False
        config = endpoint.spec.get(request_logging.FIELD)
        logged = self.request_log.record(
            endpoint.name, config, deployed_model_id, instances, predictions
        )
        if endpoint.monitoring_log is not None and endpoint.monitoring_log != config:
            self.request_log.record(
                endpoint.name, endpoint.monitoring_log, deployed_model_id, instances, predictions
            )
        return logged

    def follow_monitoring_job(self, job: dict[str, Any]) -> None:
        """Log the requests of a monitoring job's endpoint at the job's sampling rate.

        Vertex AI monitors from logged requests: a job creates
        ``model_deployment_monitoring_<endpoint id>.serving_predict`` and logs
        sampled predictions there, and the endpoint's logging config names that
        table. An endpoint already logging to a table of its own keeps it (at the
        job's rate) and its predictions go to both.
        """
        endpoint = self.endpoint(job["endpoint"], settle=False)
        strategy = (job.get("loggingSamplingStrategy") or {}).get("randomSampleConfig") or {}
        rate = float(strategy.get("sampleRate", 1.0))
        monitoring = request_logging.resolve(
            {
                "enabled": True,
                "samplingRate": rate,
                "bigqueryDestination": {
                    "outputUri": request_logging.monitoring_table(endpoint.name)
                },
            },
            endpoint.name,
            endpoint.spec["displayName"],
        )
        current = endpoint.spec.get(request_logging.FIELD) or {}
        if current.get("enabled"):
            wanted = request_logging.resolve(
                {**current, "samplingRate": rate}, endpoint.name, endpoint.spec["displayName"]
            )
        else:
            wanted = monitoring
        if wanted == current and endpoint.monitoring_log == monitoring:
            return
        endpoint.spec[request_logging.FIELD] = wanted
        endpoint.monitoring_log = monitoring
        self.request_log.apply(endpoint.name, monitoring)
        self.request_log.apply(endpoint.name, wanted)
        endpoint.update_time = now()

    # -- lifecycle ------------------------------------------------------------

    def servers(self) -> list[ModelServer]:
        running = [d.server for e in self._endpoints.values() for d in e.deployed.values()]
        return running + list(self._starting.values())

    def clear(self) -> None:
        """Forget every endpoint and stop every model server."""
        stop_all(self.servers())
        self._starting.clear()
        self._endpoints.clear()
        self.request_log.clear()
