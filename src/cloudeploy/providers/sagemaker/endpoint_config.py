"""The one way cloudeploy changes what a SageMaker endpoint serves: a new endpoint config.

SageMaker endpoint configs are immutable, so every change — a deploy or traffic
move (the provider), data capture turned on (monitoring), a shadow variant
(shadow traffic), a blue/green rollout (``promote --native``) — is the same
three steps, done here once by :func:`update_config`:

1. create the config, named after everything it holds (variants, capture, KMS
   key, shadow variants) so a re-run after a crash finds it instead of making
   another (a caller may pass its own derived ``name``);
2. create the endpoint with it, or ``UpdateEndpoint`` to it (with a
   ``DeploymentConfig`` when given) — not again when the endpoint already
   serves it or is already being updated to it;
3. unless ``wait=False`` or ``timeout=0``, wait with the provider's own
   waiting (``OperationTimeout`` after ``timeout``: the update may still be in
   progress), then read back what the endpoint serves: SageMaker rolls back on
   its own, which is :class:`OperationFailed` (a failed first creation is
   removed so a re-run starts clean).

:func:`capture_config` builds the ``DataCaptureConfig`` the provider and
monitoring both ask for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import OperationFailed
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.sagemaker import naming, payloads
from cloudeploy.providers.sagemaker.errors import translated

if TYPE_CHECKING:
    from cloudeploy.providers.deadline import Deadline
    from cloudeploy.providers.sagemaker.provider import SageMakerProvider


def capture_config(provider: SageMakerProvider, percent: int, destination: str | None = None) -> dict[str, Any]:
    """``DataCaptureConfig`` capturing requests and answers (``percent`` of them) to ``destination``
    (default: the profile's bucket, ``<prefix>/capture``), encrypted with the profile's KMS key if any."""
    config: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": percent,
        "DestinationS3Uri": destination or f"s3://{provider.settings.bucket}/{provider.settings.key('capture')}",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"], "CsvContentTypes": ["text/csv"]},
    }
    if provider.settings.kms_key_id:
        config["KmsKeyId"] = provider.settings.kms_key_id
    return config


def config_name(provider: SageMakerProvider, endpoint: str, variants: Sequence[dict[str, Any]], *,
                capture: dict[str, Any] | None, shadow: Sequence[dict[str, Any]] = ()) -> str:
    """The derived name of the config holding exactly these variants, capture, KMS key and shadow variants."""
    extra: dict[str, Any] = {"capture": capture, "kms": provider.settings.kms_key_id}
    if shadow:
        extra["shadow"] = list(shadow)
    return naming.endpoint_config_name(endpoint, list(variants), extra)


def update_config(
    provider: SageMakerProvider,
    endpoint: str,
    variants: Sequence[dict[str, Any]],
    *,
    description: dict[str, Any] | None,
    capture: dict[str, Any] | None = None,
    shadow: Sequence[dict[str, Any]] = (),
    name: str | None = None,
    tags: Sequence[dict[str, str]] | None = None,
    deployment_config: dict[str, Any] | None = None,
    wait: bool = True,
    timeout: float | Deadline | None = None,
    progress: ProgressCallback = no_progress,
    crash_prefix: str | None = None,
    always_update: bool = False,
    failure_hint: str = "the previous versions still serve; fix the cause and re-run",
) -> str:
    """Make ``endpoint`` serve a config of ``variants`` (see the module docstring); returns its name.

    ``description`` is the endpoint's DescribeEndpoint answer (None: it does not
    exist yet and is created). ``timeout`` is seconds or the calling method's
    :class:`~cloudeploy.providers.deadline.Deadline` (the wait shares it). ``crash_prefix`` names the crash points
    ``<prefix>.after_create_config``, ``after_create_endpoint``,
    ``after_update_endpoint``. An endpoint already serving the config is left
    alone, unless ``always_update``: its weights may have moved since (a
    blue/green update must run even to the config it started from).
    """
    payloads.forget(endpoint)  # the variants' images may change: predict reads them again
    kms = provider.settings.kms_key_id
    name = name or config_name(provider, endpoint, variants, capture=capture, shadow=shadow)
    serving = (description or {}).get("EndpointConfigName")
    pending = ((description or {}).get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if serving == name and not always_update:
        return name
    sm = provider.clients.sagemaker
    with translated(f"updating endpoint {endpoint}"):
        if provider._config(name) is None:
            request: dict[str, Any] = {
                "EndpointConfigName": name,
                "ProductionVariants": list(variants),
                "Tags": list(tags) if tags is not None else naming.tags(**{"cloudeploy-endpoint": endpoint}),
            }
            if shadow:
                request["ShadowProductionVariants"] = list(shadow)
            if capture:
                request["DataCaptureConfig"] = capture
            if kms:
                request["KmsKeyId"] = kms
            sm.create_endpoint_config(**request)
            _crash(crash_prefix, "after_create_config")
        if description is None:
            progress(f"creating endpoint {endpoint} ({name})")
            sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=name, Tags=naming.tags())
            _crash(crash_prefix, "after_create_endpoint")
        elif pending == name:
            progress(f"following the update of {endpoint} to {name} already in progress")
        else:
            progress(f"updating endpoint {endpoint} to {name}")
            update: dict[str, Any] = {"EndpointName": endpoint, "EndpointConfigName": name}
            if deployment_config:
                update["DeploymentConfig"] = deployment_config
            sm.update_endpoint(**update)
            _crash(crash_prefix, "after_update_endpoint")
    if not wait or timeout == 0 or not getattr(timeout, "waits", True):
        return name
    final = provider._settle(endpoint, timeout, progress)
    if final["EndpointStatus"] == "Failed":
        reason = final.get("FailureReason", "no reason given")
        if description is None:
            # Nothing served before: remove the failed endpoint so a re-run starts clean.
            with translated(f"removing the failed endpoint {endpoint}"):
                sm.delete_endpoint(EndpointName=endpoint)
                sm.delete_endpoint_config(EndpointConfigName=name)
        raise OperationFailed(f"endpoint {endpoint} failed: {reason}", hint="fix the cause and re-run the same command")
    if final.get("EndpointConfigName") != name:
        reason = final.get("FailureReason", "no reason given")
        raise OperationFailed(
            f"SageMaker rolled endpoint {endpoint} back to {final.get('EndpointConfigName')}: {reason}",
            hint=failure_hint,
        )
    return name


def _crash(prefix: str | None, point: str) -> None:
    if prefix:
        crash_point(f"{prefix}.{point}")
