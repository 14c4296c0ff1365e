"""Endpoint lifecycles: Creating/Updating -> InService (or Failed), on the clock.

An endpoint holds the variants it serves, the model servers behind them (a
:class:`~cloudeploy.testing.sagemaker.fleet.Fleet`) and at most one operation
in progress: a list of phases that a worker thread runs one after the other,
as the service does, whether or not anyone is polling.

Updates are blue/green (SageMaker developer guide, "Blue/Green Deployments"):
the new config's servers start beside the old ones (variant status
``Creating``), traffic moves to them in the steps of the ``DeploymentConfig``
(``ActivatingTraffic``), and each step bakes for ``WaitIntervalInSeconds`` of
wall time (``Baking``; times the emulation's time scale, see ``clock``) while
the auto-rollback alarms are evaluated. An alarm in ALARM during any bake, or a
variant that cannot be served, moves all traffic back to the old fleet, stops
the new one and returns the endpoint to InService on its *old* config with a
``FailureReason``, as the service does. After the last step the old fleet
stays ``TerminationWaitInSeconds`` longer, then stops.

An operation takes as long as its model servers need to start and its bakes,
but it never ends before one DescribeEndpoint has reported it in progress: the
service takes minutes, so a caller always sees ``Creating`` or ``Updating``
first; here that holds deterministically without minutes of waiting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloudeploy.testing.sagemaker import clock, containers, metrics
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
    result = []
    for spec in config.get("ProductionVariants", []):
        container = containers.serving_container(account, region, spec["ModelName"]) or {}
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
        self.green_status = "Creating"
        self.pending_config: tuple[str, dict[str, Any]] | None = None
        self.pending_started: dt.datetime | None = None
        self._phases: list[Callable[[], None]] = []
        self._plan = TrafficPlan()
        self._retain: frozenset[str] = frozenset()
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        #: Set once the operation's caller may see it run: after the request that
        #: started it was answered (and any injected fault applied).
        self._released = threading.Event()
        #: Set once a DescribeEndpoint reported the operation in progress.
        self._observed = threading.Event()
        self._sync()

    # -- starting operations --------------------------------------------------

    def start_create(self, config_name: str, config: dict[str, Any]) -> None:
        with self.lock:
            self.pending_config = (config_name, config)
            self.pending_started = utcnow()
            self.status = "Creating"
            self._begin([self._provision_new, self._finish_create])

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
            steps: list[Callable[[], None]] = []
            for fraction in plan.steps:
                steps.append(lambda fraction=fraction: self._shift(fraction))
                steps.append(self._bake)
            self._begin([self._provision_new, *steps, self._terminate_wait, self._finish_update])

    def start_weights(self, desired: dict[str, dict[str, Any]]) -> None:
        def apply() -> None:
            self._await_observed()
            with self.lock:
                self._apply_weights(desired)

        with self.lock:
            self.status = "Updating"
            self._begin([apply])

    def _begin(self, phases: list[Callable[[], None]]) -> None:
        self._phases = phases
        self.green_status = "Creating"
        self._released.clear()
        self._observed.clear()
        self._sync()
        self._worker = threading.Thread(
            target=self._run, name=f"sagemaker-endpoint-{self.name}", daemon=True
        )
        self._worker.start()

    def release(self) -> None:
        """Let the operation just started run (called once its request was answered)."""
        self._released.set()

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
        worker = self._worker
        return worker is not None and worker.is_alive()

    # -- running ----------------------------------------------------------------

    def _run(self) -> None:
        """The worker: run the phases in order until none is left or the endpoint goes."""
        # Wait for the request to be answered; a safety timeout for callers that never release.
        self._released.wait(1.0)
        while not self._cancel.is_set():
            with self.lock:
                if not self._phases:
                    break
                phase = self._phases.pop(0)
            phase()
            with self.lock:
                self.record.last_modified_time = utcnow()
                self._sync()

    def _await_observed(self) -> None:
        """Block until a DescribeEndpoint reported the operation in progress (or the endpoint goes)."""
        while not self._observed.wait(0.05):
            if self._cancel.is_set():
                return

    def observed(self) -> None:
        """A DescribeEndpoint just answered with the current status."""
        if self.status in ("Creating", "Updating"):
            self._observed.set()

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
        self._await_observed()
        with self.lock:
            name, config = self.pending_config  # type: ignore[misc]
            self.config_name, self.config, self.variants = name, config, self.green
            self.green, self.pending_config = [], None
            self.resolved_at = utcnow()
            self.status = "InService"

    def _shift(self, fraction: float) -> None:
        with self.lock:
            self.green_status = "ActivatingTraffic"
            self.green_fraction = fraction

    def _bake(self) -> None:
        """Bake the step just taken: WaitIntervalInSeconds (scaled), alarms evaluated throughout."""
        with self.lock:
            self.green_status = "Baking"
        if clock.bake(self._plan.wait_s, self._scale(), self._cancel, self._alarmed):
            self._rollback_for_alarms()

    def _terminate_wait(self) -> None:
        """Keep the old fleet TerminationWaitInSeconds (scaled) after the last step."""
        clock.bake(self._plan.termination_wait_s, self._scale(), self._cancel)

    @staticmethod
    def _scale() -> float:
        from cloudeploy.testing.sagemaker.state import STATE

        return STATE.time_scale

    def _finish_update(self) -> None:
        if self._rollback_if_alarmed():
            return
        self._await_observed()
        with self.lock:
            name, config = self.pending_config  # type: ignore[misc]
            blue = [v.key for v in self.variants]
            self.config_name, self.config, self.variants = name, config, self.green
            self.green, self.green_fraction = [], 0.0
            self.resolved_at = utcnow()
            self.last_deployment_config = self._plan.config or None
            serving = {v.key for v in self.variants}
        # The old fleet is terminated before the endpoint reports InService.
        self.fleet.stop(key for key in blue if key not in serving)
        with self.lock:
            self.pending_config = None
            self.status = "InService"

    def _alarmed(self) -> bool:
        return bool(metrics.alarms_in_alarm(self.account, self.region, self._plan.alarms))

    def _rollback_if_alarmed(self) -> bool:
        if self._alarmed():
            self._rollback_for_alarms()
            return True
        return False

    def _rollback_for_alarms(self) -> None:
        firing = metrics.alarms_in_alarm(self.account, self.region, self._plan.alarms)
        self._roll_back(
            "Update was rolled back because the auto-rollback alarm(s) "
            f"{', '.join(firing) or 'of the deployment'} went into ALARM state"
        )

    def _roll_back(self, reason: str | None) -> None:
        # Traffic returns to the old fleet at once; the endpoint reports InService
        # once the rollback has been seen in progress.
        with self.lock:
            self.green, self.green_fraction = [], 0.0
            self._phases = []
            serving = [v.key for v in self.variants]
        self.fleet.retain(serving)
        self._await_observed()
        with self.lock:
            self.pending_config = None
            self.failure_reason = reason
            self.status = "InService"

    def _fail(self, reason: str) -> None:
        with self.lock:
            self.green, self._phases = [], []
        self.fleet.stop_all()
        self._await_observed()
        with self.lock:
            self.pending_config = None
            self.failure_reason = reason
            self.status = "Failed"

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
        """Stop the operation in progress and every model server.

        Waits for a phase that is starting model servers, so none starts afterwards.
        """
        self._cancel.set()
        with self.lock:
            self._phases = []
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join()
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
        """The DescribeEndpoint answer; reporting an operation in progress lets it finish."""
        with self.lock:
            self.observed()
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
                step = self.green_status if self.green else "Creating"
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
