"""The SageMaker provider's options (docs/options.md lists them with the others).

Every field defaults to ``None``: not given, the profile's setting (or what the
endpoint already has) applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cloudeploy.providers.options import (
    BATCH,
    BOOL,
    DEPLOY,
    UPLOAD,
    Kind,
    ProviderOptions,
    choice,
    json_object,
    option,
    text,
    whole_number,
)

_PERCENT = whole_number(0, 100)
_CAPTURE_KEYS = ("destination", "sampling_percentage")


def _check_capture(value: Any) -> bool | dict[str, Any]:
    """``True``/``False`` or ``{"destination": "s3://...", "sampling_percentage": 0..100}``."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"must be true, false or {{destination, sampling_percentage}}, got {value!r} ({type(value).__name__})"
        )
    unknown = sorted(set(value) - set(_CAPTURE_KEYS))
    if unknown:
        raise ValueError(f"takes destination and sampling_percentage, not {', '.join(unknown)}")
    if "sampling_percentage" in value:
        try:
            _PERCENT.check(value["sampling_percentage"])
        except ValueError as error:
            raise ValueError(f"has a bad sampling_percentage: it {error}") from None
    destination = value.get("destination")
    if destination is not None and (not isinstance(destination, str) or not destination.startswith("s3://")):
        raise ValueError(f"has a bad destination: it must be an s3:// URI, got {destination!r}")
    return dict(value)


def _capture_text(raw: str) -> bool | dict[str, Any]:
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return _check_capture(json.loads(raw))
    except json.JSONDecodeError:
        raise ValueError(f"must be true, false or a JSON object, got {raw!r}") from None


DATA_CAPTURE = Kind(
    "true, false or {destination, sampling_percentage}",
    lambda value: _check_capture(dict(value) if isinstance(value, dict) else value),
    _capture_text,
)


def _check_deployment_config(config: dict[str, Any]) -> None:
    policies = {"BlueGreenUpdatePolicy", "RollingUpdatePolicy"} & set(config)
    allowed = {"BlueGreenUpdatePolicy", "RollingUpdatePolicy", "AutoRollbackConfiguration"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(f"has unknown keys {', '.join(unknown)} (a SageMaker DeploymentConfig takes {', '.join(sorted(allowed))})")
    if len(policies) > 1:
        raise ValueError("holds both BlueGreenUpdatePolicy and RollingUpdatePolicy: give one")


@dataclass(frozen=True)
class SageMakerOptions(ProviderOptions):
    """Options of the SageMaker provider, field by field.

    - ``serving_image`` (str; default: the profile's ``serving_image``) — read by
      **upload**: the cloudeploy serving image for this version when no prebuilt
      scikit-learn image fits (a prebuilt one still wins unless ``strict``).
    - ``data_capture`` (``true``, ``false`` or ``{"destination": "s3://...",
      "sampling_percentage": 0..100}``; default: the endpoint keeps what it has)
      — read by **deploy**: SageMaker data capture of requests and responses in
      the new endpoint config (default destination ``s3://<bucket>/<prefix>/capture``).
    - ``deployment_config`` (a SageMaker ``DeploymentConfig`` object; default
      none) — read by **deploy**: blue/green or rolling update policy and
      auto-rollback alarms of the UpdateEndpoint that applies the change.
    - ``strict`` (bool; default false) — read by **upload** and **deploy**:
      requests that do not match the input schema are refused (400) before the
      model sees them. Upload then registers the version with the cloudeploy
      serving image even when a prebuilt image exists (a ConfigError when no
      serving image is configured); deploy refuses a version registered with a
      prebuilt image, which cannot check requests.
    - ``model_name`` (str; default: the package's name) — read by **batch**: the
      registered model name a batch job on a package path uses.
    - ``batch_strategy`` (``MultiRecord`` | ``SingleRecord``; default
      ``MultiRecord``) — read by **batch**: the transform job's BatchStrategy.
    - ``max_payload_mb`` (int 0..100; default 6) — read by **batch**: the
      transform job's MaxPayloadInMB.
    """

    provider = "sagemaker"

    serving_image: str | None = option(text(), steps=(UPLOAD,), doc="the cloudeploy serving image for this version")
    data_capture: bool | dict[str, Any] | None = option(
        DATA_CAPTURE, steps=(DEPLOY,), doc="capture requests and responses to S3"
    )
    deployment_config: dict[str, Any] | None = option(
        json_object("a SageMaker DeploymentConfig object", _check_deployment_config),
        steps=(DEPLOY,),
        doc="blue/green or rolling update policy of the UpdateEndpoint",
    )
    strict: bool | None = option(
        BOOL, steps=(UPLOAD, DEPLOY), doc="refuse requests that do not match the input schema"
    )
    model_name: str | None = option(text(), steps=(BATCH,), doc="registered model name for a package path")
    batch_strategy: str | None = option(
        choice("MultiRecord", "SingleRecord"), steps=(BATCH,), doc="the transform job's BatchStrategy"
    )
    max_payload_mb: int | None = option(whole_number(0, 100), steps=(BATCH,), doc="the transform job's MaxPayloadInMB")
