"""``promote --native`` on SageMaker: the plan compiled into the service's own blue/green update.

:func:`compile_plan` turns a :class:`RolloutPlan` into an ``UpdateEndpoint``
``DeploymentConfig`` and the CloudWatch alarms its gates become:

- steps ``(100,)`` → ``ALL_AT_ONCE``; ``(c, 100)`` with c ≤ 50 → ``CANARY`` of c%;
  equal steps ``(s, 2s, …, 100)`` with 10 ≤ s ≤ 50 → ``LINEAR`` steps of s%;
  anything else cannot be expressed and is refused (use the client-side executor);
- the bake time → ``WaitIntervalInSeconds`` (and ``TerminationWaitInSeconds``
  when the 100% step bakes too), at most 3600 s as the service allows;
- ``max_error_rate`` → an alarm on the new variant's ``Invocation5XXErrors``
  Average; ``max_p99_ms`` → an alarm on its ``ModelLatency`` p99 (microseconds);
  both in ``AutoRollbackConfiguration``. Relative and custom gates and
  ``min_requests`` have no SageMaker equivalent and are refused / noted.

:class:`SageMakerNativeRollout` (the provider's ``native_rollout()``) creates
the alarms and the new endpoint config (the current variants, with all weight
on the new version) and calls ``UpdateEndpoint`` with the deployment config
(through ``endpoint_config.update_config``), follows the deployment until the
endpoint is InService again, and reads back which config it serves: the service may have rolled back
on its own, which is reported as ``rolled_back`` with its ``FailureReason``.
Re-running after the process was killed follows the update already in progress
(the config name is derived from the request) instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import (
    ConflictError,
    NotFoundError,
    OperationTimeout,
    ProviderError,
    ValidationError,
)
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import NativeOutcome, NativeRollout, NativeStep
from cloudeploy.providers.sagemaker.endpoint_config import update_config
from cloudeploy.providers.sagemaker.errors import translated

if TYPE_CHECKING:
    from cloudeploy.rollout.plan import RolloutPlan

MAX_WAIT_S = 3600
ALARM_PERIOD_S = 60


@dataclass(frozen=True)
class NativeDeployment:
    """The compiled request: ``deployment_config`` for UpdateEndpoint and the alarms to create."""

    deployment_config: dict[str, Any]
    alarms: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"DeploymentConfig": self.deployment_config, "Alarms": list(self.alarms), "notes": list(self.notes)}


def _routing(steps: tuple[int, ...], wait_s: int) -> dict[str, Any]:
    if steps == (100,):
        return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait_s}
    if len(steps) == 2 and steps[0] <= 50:
        return {"Type": "CANARY", "WaitIntervalInSeconds": wait_s,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": steps[0]}}
    size = steps[0]
    if 10 <= size <= 50 and steps == tuple(min(100, size * (i + 1)) for i in range(len(steps))):
        return {"Type": "LINEAR", "WaitIntervalInSeconds": wait_s,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": size}}
    raise ValidationError(
        f"SageMaker cannot run the steps {list(steps)} natively",
        hint="native mode takes one canary step of at most 50% then 100 (e.g. 10,100), or equal "
             "linear steps of 10-50% (e.g. 25,50,75,100); drop --native to run any steps client-side",
    )


def alarm_name(endpoint: str, version: str, gate: str) -> str:
    return f"cloudeploy-{endpoint}-{version}-{gate}"


def compile_plan(plan: RolloutPlan, *, endpoint: str, version: str) -> NativeDeployment:
    """The DeploymentConfig and alarms for ``plan``; ValidationError if it cannot be expressed."""
    unsupported = [
        name for name in ("max_p99_ratio", "max_p50_ratio", "max_p50_ms", "max_prediction_shift",
                          "max_model_error_rate", "max_timeout_rate", "max_input_error_rate")
        if getattr(plan, name) is not None
    ] + list(plan.gates)
    if unsupported:
        raise ValidationError(
            f"SageMaker native mode cannot enforce the gate(s) {', '.join(unsupported)}",
            hint="native mode enforces max_error_rate and max_p99_ms as CloudWatch alarms; drop --native for others",
        )
    wait_s = int(round(plan.bake_s))
    if wait_s > MAX_WAIT_S:
        raise ValidationError(f"SageMaker waits at most {MAX_WAIT_S}s per step; the bake time is {wait_s}s")
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": version}]
    alarms: list[dict[str, Any]] = []
    if plan.max_error_rate is not None:
        alarms.append({
            "AlarmName": alarm_name(endpoint, version, "error-rate"),
            "Namespace": "AWS/SageMaker", "MetricName": "Invocation5XXErrors", "Dimensions": dimensions,
            "Statistic": "Average", "Period": ALARM_PERIOD_S, "EvaluationPeriods": 1,
            "Threshold": plan.max_error_rate, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        })
    if plan.max_p99_ms is not None:
        alarms.append({
            "AlarmName": alarm_name(endpoint, version, "p99"),
            "Namespace": "AWS/SageMaker", "MetricName": "ModelLatency", "Dimensions": dimensions,
            "ExtendedStatistic": "p99", "Period": ALARM_PERIOD_S, "EvaluationPeriods": 1,
            "Threshold": plan.max_p99_ms * 1000.0, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
        })
    policy: dict[str, Any] = {
        "TrafficRoutingConfiguration": _routing(plan.steps, wait_s),
        "TerminationWaitInSeconds": wait_s if plan.final_bake else 0,
    }
    config: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a["AlarmName"]} for a in alarms]}
    notes = []
    if plan.min_requests:
        notes.append(f"min_requests ({plan.min_requests}) is not enforced by SageMaker: alarms judge whatever traffic arrives")
    if plan.input_error_margin is not None or plan.fail_on_non_finite:
        notes.append("the comparative input-error gate and the non-finite gate are not enforced by SageMaker "
                     "alarms (a NaN answer is a 5xx, so it counts in the error-rate alarm)")
    return NativeDeployment(config, tuple(alarms), tuple(notes))


class SageMakerNativeRollout(NativeRollout):
    """``promote --native`` on SageMaker: the plan as the service's blue/green update."""

    def compile(self, plan: Any, *, endpoint: str, version: str) -> dict[str, Any]:
        return compile_plan(plan, endpoint=endpoint, version=version).to_dict()

    def run(self, endpoint: str, version: str, plan: Any, *, progress: ProgressCallback = no_progress,
            timeout: float | None = None, poll_s: float | None = None) -> NativeOutcome:
        """Blocks until the endpoint is InService again (``timeout`` seconds, default the plan's
        total wait plus 10 minutes): ``promoted`` if it serves the new config, ``rolled_back``
        (with the service's reason) if it does not."""
        provider = self.provider
        compiled = compile_plan(plan, endpoint=endpoint, version=version)
        description = provider._describe(endpoint)
        if description is None:
            raise NotFoundError(f"endpoint {endpoint!r} not found on sagemaker")
        old_config = provider._config(description["EndpointConfigName"]) or {}
        variants = [dict(v) for v in old_config.get("ProductionVariants", [])]
        if not any(v["VariantName"] == version for v in variants):
            raise ProviderError(
                f"{version} is not deployed on {endpoint}",
                hint=f"deploy it with no traffic first: cloudeploy deploy MODEL --endpoint {endpoint} --traffic 0",
            )
        for variant in variants:
            variant["InitialVariantWeight"] = 1.0 if variant["VariantName"] == version else 0.0
        from_split = provider.get_endpoint(endpoint).traffic.to_dict()
        steps: list[NativeStep] = []

        def log(action: str, percent: int, reason: str, split: dict[str, int]) -> None:
            steps.append(NativeStep(action, percent, reason, split))
            progress(f"{action}: {reason}")

        def outcome(result: str, reason: str, traffic: dict[str, int]) -> NativeOutcome:
            return NativeOutcome(version=version, outcome=result, reason=reason, from_split=from_split,
                                 traffic=traffic, steps=tuple(steps), compiled=compiled.to_dict())

        capture = old_config.get("DataCaptureConfig")
        # The live split is part of the name: a re-run while this update is in progress
        # finds it again, while the same request from another starting split is a new update.
        digest = hashlib.sha256(json.dumps([{"ProductionVariants": variants, "DataCaptureConfig": capture,
                                             "KmsKeyId": old_config.get("KmsKeyId")},
                                            compiled.deployment_config, from_split],
                                           sort_keys=True, default=str).encode()).hexdigest()[:10]
        new_config_name = f"{endpoint[:44]}-native-{digest}"
        pending = (description.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        updating = description.get("EndpointStatus") == "Updating"
        if not updating and from_split.get(version) == 100:
            reason = f"{version} already serves 100% of {endpoint}: nothing to do"
            log("promoted", 100, reason, from_split)
            return outcome("promoted", reason, from_split)
        if updating and pending != new_config_name:
            raise ConflictError(
                f"endpoint {endpoint} is already being updated (to {pending or 'another config'})",
                hint=f"wait for it: aws sagemaker describe-endpoint --endpoint-name {endpoint}",
            )
        for alarm in compiled.alarms:
            progress(f"creating alarm {alarm['AlarmName']}")
            with translated(f"creating alarm {alarm['AlarmName']}"):
                provider.clients.cloudwatch.put_metric_alarm(**alarm)
        update_config(provider, endpoint, variants, description=description, capture=capture,
                      name=new_config_name, deployment_config=compiled.deployment_config, wait=False,
                      always_update=True, progress=progress)
        routing = compiled.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
        log("step", 0, f"UpdateEndpoint to {new_config_name} with {routing['Type']} routing "
            f"and {len(compiled.alarms)} rollback alarm(s)", from_split)
        final = _follow(provider.clients.sagemaker, endpoint, plan, timeout, poll_s, progress)
        served = final.get("EndpointConfigName")
        traffic = provider.get_endpoint(endpoint).traffic.to_dict()
        if served == new_config_name:
            reason = f"SageMaker finished the blue/green update: {version} serves 100%"
            log("promoted", 100, reason, traffic)
            return outcome("promoted", reason, traffic)
        reason = final.get("FailureReason") or f"SageMaker kept {served}"
        log("rollback", 0, f"SageMaker rolled back: {reason}", traffic)
        return outcome("rolled_back", reason, traffic)


def _follow(sm: Any, endpoint: str, plan: RolloutPlan, timeout: float | None, poll_s: float | None,
            progress: ProgressCallback) -> dict[str, Any]:
    """Describe the endpoint until it is no longer Updating; return the last description."""
    budget = timeout if timeout is not None else len(plan.steps) * plan.bake_s + 600
    deadline = time.monotonic() + budget
    interval = poll_s if poll_s is not None else min(30.0, max(1.0, plan.bake_s / 4))
    seen = None
    while True:
        with translated(f"following the update of {endpoint}"):
            description = sm.describe_endpoint(EndpointName=endpoint)
        state = description["EndpointStatus"]
        pending = description.get("PendingDeploymentSummary") or {}
        phase = ", ".join(v.get("VariantStatus", [{}])[0].get("Status", "") for v in pending.get("ProductionVariants", []))
        if (state, phase) != seen:
            progress(f"{endpoint}: {state}" + (f" ({phase})" if phase else ""))
            seen = (state, phase)
        if state not in ("Updating", "Creating", "SystemUpdating", "RollingBack"):
            return description
        if time.monotonic() >= deadline:
            raise OperationTimeout(
                f"SageMaker is still updating {endpoint} after {budget:g}s; it may still be in progress",
                hint=f"aws sagemaker describe-endpoint --endpoint-name {endpoint}",
            )
        time.sleep(interval)
