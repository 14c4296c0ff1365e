"""Deterministic SageMaker names, so that re-runs find what an earlier run made.

- model package group = the cloudeploy model name; package version N = ``vN``;
- SageMaker Model for a version: ``<model>-v<N>``;
- endpoint = the cloudeploy endpoint name; variant = the version label;
- endpoint config: ``<endpoint>-<hash of its variants>``, so the same split and
  sizes give the same config name.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from cloudeploy.errors import ValidationError

NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}\Z")
MANAGED_TAG = {"Key": "cloudeploy-managed", "Value": "true"}


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"invalid {what} name {name!r}",
            hint="use letters, digits and hyphens, at most 63 characters, starting with a letter or digit",
        )
    return name


def sagemaker_model_name(model: str, version: str) -> str:
    name = f"{model}-{version}"
    if len(name) > 63:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{model[: 63 - len(version) - 10]}-{digest}-{version}"
    return name


def endpoint_config_name(
    endpoint: str, variants: list[dict[str, Any]], extra: dict[str, Any]
) -> str:
    spec = json.dumps({"variants": variants, **extra}, sort_keys=True, default=str)
    digest = hashlib.sha256(spec.encode()).hexdigest()[:10]
    return f"{endpoint[:52]}-{digest}"


def tags(**extra: str) -> list[dict[str, str]]:
    return [MANAGED_TAG, *({"Key": k, "Value": v} for k, v in extra.items())]
