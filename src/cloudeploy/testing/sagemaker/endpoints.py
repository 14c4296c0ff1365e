"""Endpoint lifecycles: Creating/Updating -> InService (or Failed), driven by describe calls.

An endpoint holds the variants it serves, the model servers behind them (a
:class:`~cloudeploy.testing.sagemaker.fleet.Fleet`) and at most one pending
operation: a list of phases that :meth:`EndpointRuntime.advance` runs when the
endpoint is described (all of them, or one per call; see
``EmulationState.settle_on_describe``).

Updates are blue/green: the new config's servers start beside the old ones,
traffic moves to them in the steps of the ``DeploymentConfig``, and before each
step the auto-rollback alarms are evaluated. An alarm in ALARM, or a variant
that cannot be served, returns the endpoint to InService on its *old* config
with a ``FailureReason``, as the service does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloudeploy.testing.sagemaker import backends, metrics
from cloudeploy.testing.sagemaker.deployment import TrafficPlan
from cloudeploy.testing.sagemaker.fleet import Fleet, ProvisionError, ServerKey
from cloudeploy.testing.sagemaker.runner import ModelServer


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Variant:
    """One production variant as served."""

    name: str
    model: str
    weight: float
    instances: int
    instance_type: str | None
    image: str

    @property
    def key(self) -> ServerKey:
        return (self.name, self.model)

    def summary(self, resolved_at: dt.datetime, status: str | None = None) -> dict[str, Any]:
        digest = hashlib.sha256(self.image.encode()).hexdigest()
        repository, _, tag = self.image.rpartition(":")
        if not repository or "/" in tag:  # no tag, or the colon belonged to a registry port
            repository = self.image
        body: dict[str, Any] = {
            "VariantName": self.name,
            "DeployedImages": [
                {
                    "SpecifiedImage": self.image,
                    "ResolvedImage": f"{repository}@sha256:{digest}",
                    "ResolutionTime": resolved_at,
                }
            ],
            "CurrentWeight": self.weight,
            "DesiredWeight": self.weight,
            "CurrentInstanceCount": self.instances,
            "DesiredInstanceCount": self.instances,
        }
        if status:
            body["VariantStatus"] = [{"Status": status, "StartTime": resolved_at}]
        return body


def variants_of(account: str, region: str, config: dict[str, Any]) -> list[Variant]:
    models = backends.sagemaker(account, region)._models
    result = []
    for spec in config.get("ProductionVariants", []):
        model = models.get(spec["ModelName"])
        container = (model.primary_container or {}) if model else {}
        result.append(
            Variant(
                name=spec["VariantName"],
                model=spec["ModelName"],
                weight=float(spec.get("InitialVariantWeight", 1.0)),
                instances=int(spec.get("InitialInstanceCount", 1)),
                instance_type=spec.get("InstanceType"),
                image=container.get("Image", ""),
            )
        )
    return result


class EndpointRuntime:
    """The live side of one endpoint (moto keeps the resource record)."""

    def __init__(self, account: str, region: str, moto_endpoint: Any, workdir) -> None:
        self.account = account
        self.region = region
        self.record = moto_endpoint
        self.name: str = moto_endpoint.endpoint_name
        self.fleet = Fleet(account, region, workdir)
        #: Guards the fields below; held only briefly, so invocations keep flowing.
        self.lock = threading.RLock()
        #: Serialises advance() calls; held while model servers start.
        self._advance_lock = threading.Lock()
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.config_name: str | None = None
        self.requested_config: str = moto_endpoint.endpoint_config_name
        self.config: dict[str, Any] = {}
        self.variants: list[Variant] = []
        self.resolved_at = utcnow()
        self.last_deployment_config: dict[str, Any] | None = None
        self.green: list[Variant] = []
        self.green_fraction = 0.0
        self.pending_config: tuple[str, dict[str, Any]] | None = None
        self.pending_started: dt.datetime | None = None
        self._phases: list[Callable[[], None]] = []
        self._plan = TrafficPlan()
        self._retain: frozenset[str] = frozenset()
        self._sync()

    # -- starting operations --------------------------------------------------

    def start_create(self, config_name: str, config: dict[str, Any]) -> None:
        with self.lock:
            self.pending_config = (config_name, config)
            self.pending_started = utcnow()
            self.status = "Creating"
            self._phases = [self._provision_new, self._finish_create]
            self._sync()

    def start_update(
        self,
        config_name: str,
        config: dict[str, Any],
        plan: TrafficPlan,
        retain: frozenset[str] = frozenset(),
    ) -> None:
        """Move to ``config`` as ``plan`` says; ``retain`` names the variant properties
        (``DesiredWeight``, ``DesiredInstanceCount``) that same-named variants keep."""
        with self.lock:
            self._retain = retain
            self.pending_config = (config_name, config)
            self.pending_started = utcnow()
            self._plan = plan
            self.status = "Updating"
            self.failure_reason = None
            shifts = [lambda fraction=fraction: self._shift(fraction) for fraction in plan.steps]
            self._phases = [self._provision_new, *shifts, self._finish_update]
            self._sync()

    def start_weights(self, desired: dict[str, dict[str, Any]]) -> None:
        def apply() -> None:
            with self.lock:
                self._apply_weights(desired)

        with self.lock:
            self.status = "Updating"
            self._phases = [apply]
            self._sync()

    def _apply_weights(self, desired: dict[str, dict[str, Any]]) -> None:
        self.variants = [
            replace(
                v,
                weight=float(desired[v.name].get("DesiredWeight", v.weight)),
                instances=int(desired[v.name].get("DesiredInstanceCount", v.instances)),
            )
            if v.name in desired
            else v
            for v in self.variants
        ]
        self.status = "InService"

    def sabotage(self, kind: str, reason: str) -> None:
        """Make the operation just started end badly (fault injection; see ``faults``).

        ``fail``: the endpoint ends Failed with ``reason``. ``silent_rollback``: it
        ends InService on its old config with no FailureReason.
        """
        with self.lock:
            if kind == "fail":
                self._phases = [lambda: self._fail(reason)]
            elif kind == "silent_rollback" and self.config_name is not None:
                self._phases = [lambda: self._roll_back(None)]

    @property
    def busy(self) -> bool:
        return bool(self._phases)

    # -- advancing ------------------------------------------------------------

    def advance(self, settle: bool) -> None:
        """Run the next phase (or all of them when ``settle``).

        Phases run outside ``lock`` (starting model servers takes seconds), so
        the endpoint keeps serving its current variants meanwhile.
        """
        with self._advance_lock:
            while True:
                with self.lock:
                    if not self._phases:
                        break
                    phase = self._phases.pop(0)
                phase()
                with self.lock:
                    self.record.last_modified_time = utcnow()
                    self._sync()
                if not settle:
                    break

    def _provision_new(self) -> None:
        if self._rollback_if_alarmed():
            return
        with self.lock:
            _, config = self.pending_config  # type: ignore[misc]
            green = [self._retained(v) for v in variants_of(self.account, self.region, config)]
        try:
            self.fleet.provision(v.key for v in green)
        except ProvisionError as error:
            if self.config_name is None:
                self._fail(str(error))
            else:
                self._roll_back(f"Update failed and the endpoint was rolled back: {error}")
            return
        with self.lock:
            self.green = green

    def _retained(self, variant: Variant) -> Variant:
        current = next((v for v in self.variants if v.name == variant.name), None)
        if current is None:
            return variant
        if "DesiredWeight" in self._retain:
            variant = replace(variant, weight=current.weight)
        if "DesiredInstanceCount" in self._retain:
            variant = replace(variant, instances=current.instances)
        return variant

    def _finish_create(self) -> None:
        with self.lock:
            name, config = self.pending_config  # type: ignore[misc]
            self.config_name, self.config, self.variants = name, config, self.green
            self.green, self.pending_config = [], None
            self.resolved_at = utcnow()
            self.status = "InService"

    def _shift(self, fraction: float) -> None:
        if not self._rollback_if_alarmed():
            with self.lock:
                self.green_fraction = fraction

    def _finish_update(self) -> None:
        if self._rollback_if_alarmed():
            return
        with self.lock:
            name, config = self.pending_config  # type: ignore[misc]
            blue = [v.key for v in self.variants]
            self.config_name, self.config, self.variants = name, config, self.green
            self.green, self.green_fraction, self.pending_config = [], 0.0, None
            self.resolved_at = utcnow()
            self.last_deployment_config = self._plan.config or None
            self.status = "InService"
        self.fleet.stop(key for key in blue if key not in {v.key for v in self.variants})

    def _rollback_if_alarmed(self) -> bool:
        firing = metrics.alarms_in_alarm(self.account, self.region, self._plan.alarms)
        if firing:
            self._roll_back(
                "Update was rolled back because the auto-rollback alarm(s) "
                f"{', '.join(firing)} went into ALARM state"
            )
        return bool(firing)

    def _roll_back(self, reason: str | None) -> None:
        with self.lock:
            self.green, self.green_fraction, self.pending_config = [], 0.0, None
            self._phases = []
            self.failure_reason = reason
            self.status = "InService"
            serving = [v.key for v in self.variants]
        self.fleet.retain(serving)

    def _fail(self, reason: str) -> None:
        with self.lock:
            self.green, self.pending_config, self._phases = [], None, []
            self.failure_reason = reason
            self.status = "Failed"
        self.fleet.stop_all()

    # -- serving ----------------------------------------------------------------

    def route(self, target_variant: str | None) -> tuple[Variant, ModelServer | None]:
        """Pick the variant for one invocation: ``target_variant`` or by weight.

        During a blue/green shift, ``green_fraction`` of the traffic goes to the
        new fleet. Raises LookupError with the service's message.
        """
        with self.lock:
            pool = self.variants + self.green
            if target_variant is not None:
                for variant in pool:
                    if variant.name == target_variant:
                        return variant, self.fleet.server(variant.key)
                raise LookupError(f"Variant {target_variant} not found for endpoint {self.name}.")
            fleet = (
                self.green
                if self.green and random.random() < self.green_fraction
                else self.variants
            )
            weights = [v.weight for v in fleet]
            if not fleet or sum(weights) <= 0:
                raise LookupError(f"Endpoint {self.name} has no variant with a positive weight.")
            variant = random.choices(fleet, weights=weights)[0]
            return variant, self.fleet.server(variant.key)

    def shutdown(self) -> None:
        """Stop every model server; waits for a running phase so none starts afterwards."""
        with self._advance_lock, self.lock:
            self._phases = []
        self.fleet.stop_all()

    # -- describing -------------------------------------------------------------

    def _sync(self) -> None:
        """Mirror status, config and variants into moto's record (ListEndpoints reads it)."""
        self.record.endpoint_status = self.status
        self.record.failure_reason = self.failure_reason
        if self.config_name:
            self.record.endpoint_config_name = self.config_name
        self.record.production_variants = [v.summary(self.resolved_at) for v in self.variants]

    def describe(self) -> dict[str, Any]:
        with self.lock:
            body: dict[str, Any] = {
                "EndpointName": self.name,
                "EndpointArn": self.record.arn,
                "EndpointConfigName": self.config_name or self.requested_config,
                "EndpointStatus": self.status,
                "CreationTime": self.record.creation_time,
                "LastModifiedTime": self.record.last_modified_time,
            }
            if self.variants:
                body["ProductionVariants"] = [v.summary(self.resolved_at) for v in self.variants]
            capture = self.config.get("DataCaptureConfig") or {}
            if capture:
                body["DataCaptureConfig"] = {
                    "EnableCapture": capture.get("EnableCapture", True),
                    "CaptureStatus": "Started" if capture.get("EnableCapture", True) else "Stopped",
                    "CurrentSamplingPercentage": capture.get("InitialSamplingPercentage", 100),
                    "DestinationS3Uri": capture["DestinationS3Uri"],
                    "KmsKeyId": capture.get("KmsKeyId", ""),
                }
            if self.failure_reason:
                body["FailureReason"] = self.failure_reason
            if self.last_deployment_config:
                body["LastDeploymentConfig"] = self.last_deployment_config
            if self.pending_config and self.config_name:
                name, config = self.pending_config
                step = "ActivatingTraffic" if self.green_fraction else "Creating"
                body["PendingDeploymentSummary"] = {
                    "EndpointConfigName": name,
                    "StartTime": self.pending_started,
                    "ProductionVariants": [
                        {
                            **v.summary(utcnow(), step),
                            **({"InstanceType": v.instance_type} if v.instance_type else {}),
                        }
                        for v in (self.green or variants_of(self.account, self.region, config))
                    ],
                }
            return body
