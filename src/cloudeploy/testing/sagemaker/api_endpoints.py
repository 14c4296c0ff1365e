"""SageMaker API handlers for endpoints, endpoint configs and models.

Each function becomes a method of moto's ``SageMakerResponse`` (see
``install.py``): it reads the request with ``self._get_param`` and returns an
``ActionResult``. Describe responses are shaped like the service's: fields that
are not set are absent, never empty placeholder objects.
"""

from __future__ import annotations

import re
from typing import Any

from moto.core.responses import ActionResult, EmptyResult

from cloudeploy.testing.sagemaker import backends, deployment, shadow
from cloudeploy.testing.sagemaker.endpoints import EndpointRuntime, utcnow
from cloudeploy.testing.sagemaker.errors import ValidationException
from cloudeploy.testing.sagemaker.state import STATE

NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _arn(self, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{self.region}:{self.current_account}:{kind}/{name}"


def _runtime(self, name: str) -> EndpointRuntime:
    with STATE.lock:
        runtime = STATE.endpoints.get((self.current_account, self.region, name))
    if runtime is None:
        raise ValidationException(f"Could not find endpoint '{_arn(self, 'endpoint', name)}'.")
    return runtime


def _config(self, name: str) -> dict[str, Any]:
    config = backends.sagemaker(self.current_account, self.region).endpoint_configs.get(name)
    if config is None:
        raise ValidationException(
            f"Could not find endpoint configuration '{_arn(self, 'endpoint-config', name)}'."
        )
    return shadow.described_config(self, name, _prune(config.response_object))


def _prune(value: Any) -> Any:
    """Drop None, empty dicts and empty lists, recursively (moto's placeholders)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {
            k: v for k, v in pruned.items() if v is not None and v != {} and v != [] and v != [None]
        }
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def create_endpoint(self) -> ActionResult:
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    if not NAME_RE.match(name or ""):
        raise ValidationException(
            f"Value '{name}' at 'endpointName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        )
    key = (self.current_account, self.region, name)
    config = _config(self, config_name)
    with STATE.lock:
        if key in STATE.endpoints:
            raise ValidationException(
                f'Cannot create already existing endpoint "{_arn(self, "endpoint", name)}".'
            )
        backend = backends.sagemaker(self.current_account, self.region)
        record = backend.create_endpoint(
            endpoint_name=name, endpoint_config_name=config_name, tags=self._get_param("Tags")
        )
        runtime = EndpointRuntime(self.current_account, self.region, record, STATE.workdir)
        STATE.endpoints[key] = runtime
    shadow.provision(runtime, config)  # ShadowProductionVariants (shadow.py)
    runtime.start_create(config_name, config)
    return ActionResult({"EndpointArn": record.arn})


def describe_endpoint(self) -> ActionResult:
    runtime = _runtime(self, self._get_param("EndpointName"))
    return ActionResult(shadow.described_endpoint(runtime, runtime.describe()))


def update_endpoint(self) -> ActionResult:
    runtime = _runtime(self, self._get_param("EndpointName"))
    config_name = self._get_param("EndpointConfigName")
    config = _config(self, config_name)
    deployment_config = self._get_param("DeploymentConfig")
    if self._get_param("RetainDeploymentConfig") and not deployment_config:
        deployment_config = runtime.last_deployment_config
    instances = sum(
        int(v.get("InitialInstanceCount", 1)) for v in config.get("ProductionVariants", [])
    )
    plan = deployment.plan_update(deployment_config, instances)
    missing = [
        name
        for name in plan.alarms
        if name not in backends.cloudwatch(self.current_account, self.region).alarms
    ]
    if missing:
        raise ValidationException(
            f"The alarm(s) {', '.join(missing)} in AutoRollbackConfiguration do not exist."
        )
    with runtime.lock:
        if runtime.status != "InService" or runtime.busy:
            raise ValidationException(
                f'Cannot update in-progress endpoint "{runtime.record.arn}".'
                if runtime.status != "Failed"
                else f'Cannot update failed endpoint "{runtime.record.arn}"; delete and recreate it.'
            )
        runtime.start_update(config_name, config, plan, _retained_properties(self))
    shadow.provision(runtime, config)  # ShadowProductionVariants (shadow.py)
    return ActionResult({"EndpointArn": runtime.record.arn})


def _retained_properties(self) -> frozenset[str]:
    """What RetainAllVariantProperties keeps, less ExcludeRetainedVariantProperties."""
    if not self._get_param("RetainAllVariantProperties"):
        return frozenset()
    excluded = {
        p.get("VariantPropertyType")
        for p in self._get_param("ExcludeRetainedVariantProperties") or []
    }
    return frozenset({"DesiredWeight", "DesiredInstanceCount"} - excluded)


def update_endpoint_weights_and_capacities(self) -> ActionResult:
    runtime = _runtime(self, self._get_param("EndpointName"))
    desired = self._get_param("DesiredWeightsAndCapacities") or []
    by_name: dict[str, dict[str, Any]] = {}
    known = {v.name for v in runtime.variants}
    for item in desired:
        name = item.get("VariantName")
        if name in by_name:
            raise ValidationException(
                f'The variant name "{name}" was non-unique within the request.'
            )
        if name not in known:
            raise ValidationException(
                f'The variant name(s) "{name}" is/are not present within endpoint configuration '
                f'"{runtime.config_name}".'
            )
        if item.get("DesiredWeight", 0) < 0:
            raise ValidationException(f"DesiredWeight of variant {name} must be >= 0")
        by_name[name] = item
    with runtime.lock:
        if runtime.status != "InService" or runtime.busy:
            raise ValidationException(f'Cannot update in-progress endpoint "{runtime.record.arn}".')
        runtime.start_weights(by_name)
    return ActionResult({"EndpointArn": runtime.record.arn})


def delete_endpoint(self) -> EmptyResult:
    name = self._get_param("EndpointName")
    key = (self.current_account, self.region, name)
    with STATE.lock:
        runtime = STATE.endpoints.pop(key, None)
    if runtime is None:
        raise ValidationException(f"Could not find endpoint '{_arn(self, 'endpoint', name)}'.")
    runtime.shutdown()
    backends.sagemaker(self.current_account, self.region).endpoints.pop(name, None)
    return EmptyResult()


def describe_endpoint_config(self) -> ActionResult:
    return ActionResult(_config(self, self._get_param("EndpointConfigName")))


def describe_model(self) -> ActionResult:
    model = backends.sagemaker(self.current_account, self.region).describe_model(
        self._get_param("ModelName")
    )
    return ActionResult(_prune(model.response_object))


def create_endpoint_config(self) -> ActionResult:
    name = self._get_param("EndpointConfigName")
    backend = backends.sagemaker(self.current_account, self.region)
    if name in backend.endpoint_configs:
        raise ValidationException(
            f'Cannot create already existing endpoint configuration "{_arn(self, "endpoint-config", name)}".'
        )
    variants = self._get_param("ProductionVariants") or []
    names = [v.get("VariantName") for v in variants]
    if len(set(names)) != len(names):
        raise ValidationException("VariantName must be unique within an endpoint configuration")
    capture = self._get_param("DataCaptureConfig")
    if capture and not 0 <= capture.get("InitialSamplingPercentage", 0) <= 100:
        raise ValidationException("InitialSamplingPercentage must be between 0 and 100")
    shadow.remember(self, name, variants)  # validates ShadowProductionVariants (shadow.py)
    config = backend.create_endpoint_config(
        endpoint_config_name=name,
        production_variants=variants,
        data_capture_config=capture,
        async_inference_config=self._get_param("AsyncInferenceConfig"),
        tags=self._get_param("Tags"),
        kms_key_id=self._get_param("KmsKeyId"),
    )
    config.creation_time = utcnow()
    return ActionResult({"EndpointConfigArn": config.endpoint_config_arn})


HANDLERS = (
    "create_endpoint_config",
    "describe_endpoint_config",
    "describe_model",
    "create_endpoint",
    "describe_endpoint",
    "update_endpoint",
    "update_endpoint_weights_and_capacities",
    "delete_endpoint",
)
