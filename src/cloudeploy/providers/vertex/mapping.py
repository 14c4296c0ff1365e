"""Between cloudeploy's types and Vertex AI's resources.

Naming (so that cloudeploy adopts what Terraform created):

- a cloudeploy model ``NAME`` is the Vertex model ``models/NAME``; its version
  ``vN`` is Vertex version id ``N``;
- a cloudeploy endpoint ``NAME`` is ``endpoints/NAME``;
- everything cloudeploy creates carries the label ``cloudeploy-managed=true``.

A version's package digest is kept in its labels (truncated to the 63
characters a label value allows) for lookups, and in full in its version
description. An endpoint's split before the last traffic change lives in the
label ``cloudeploy-previous-traffic`` (``v1-90_v2-10``), so it survives the process.
"""

from __future__ import annotations

import re
from typing import Any

from cloudeploy.errors import ValidationError
from cloudeploy.types import DeployedVersion, EndpointStatus, ModelVersion, Scaling, TrafficSplit

MANAGED_LABEL = "cloudeploy-managed"
MODEL_LABEL = "cloudeploy-model"
#: On endpoints cloudeploy created (not adopted): removable if their first deployment fails.
CREATED_LABEL = "cloudeploy-created"
DIGEST_LABEL = "cloudeploy-digest"
FORMAT_LABEL = "cloudeploy-format"
SKLEARN_LABEL = "cloudeploy-sklearn"
PREVIOUS_LABEL = "cloudeploy-previous-traffic"
DIGEST_PREFIX = "cloudeploy package sha256:"
DEFAULT_ALIAS = "default"
DEFAULT_MACHINE_TYPE = "n1-standard-2"
CPU_METRIC = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
REQUESTS_METRIC = "aiplatform.googleapis.com/prediction/online/request_count"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")
_ALIAS_RE = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]\Z")
_SPLIT_RE = re.compile(r"^v([1-9][0-9]*)-([0-9]{1,3})\Z")


def check_name(name: str, what: str) -> str:
    """A model or endpoint name must be a slug Vertex AI accepts as a resource id."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith("-"):
        raise ValidationError(
            f"invalid {what} name {name!r} for Vertex AI",
            hint="use a lowercase letter followed by up to 62 of a-z, 0-9 and '-', not ending in '-'",
        )
    return name


def check_aliases(aliases: list[str] | tuple[str, ...]) -> list[str]:
    for alias in aliases:
        if alias in ("latest", DEFAULT_ALIAS) or not _ALIAS_RE.match(alias) or alias.isdigit():
            raise ValidationError(
                f"invalid alias {alias!r} for Vertex AI",
                hint="aliases match [a-z][a-zA-Z0-9-]*[a-z0-9]; 'latest' and 'default' are reserved",
            )
    return list(aliases)


def label_value(text: str) -> str:
    """``text`` as a label value: lowercase, [a-z0-9_-], at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", text.lower())[:63]


def version_label(version_id: str | int) -> str:
    return f"v{version_id}"


def _timestamp(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") and value else str(value or "")


def model_version(model: Any, name: str) -> ModelVersion:
    """A Vertex ``Model`` (one version of it) as a cloudeploy ModelVersion."""
    labels = dict(model.labels)
    description = model.version_description or ""
    digest = (
        description[len(DIGEST_PREFIX) :]
        if description.startswith(DIGEST_PREFIX)
        else labels.get(DIGEST_LABEL, "")
    )
    sklearn = labels.get(SKLEARN_LABEL, "").replace("_", ".")
    return ModelVersion(
        model=name,
        version=version_label(model.version_id),
        digest=digest,
        uri=model.artifact_uri,
        aliases=tuple(a for a in model.version_aliases if a != DEFAULT_ALIAS),
        created_at=_timestamp(model.version_create_time),
        framework="scikit-learn" if sklearn else labels.get(FORMAT_LABEL, ""),
        framework_version=sklearn,
        provider_id=f"{model.name}@{model.version_id}",
    )


def encode_split(split: TrafficSplit) -> str:
    return "_".join(f"{version}-{percent}" for version, percent in split.items())


def decode_split(text: str | None) -> TrafficSplit | None:
    if not text:
        return None
    percents = {}
    for part in text.split("_"):
        match = _SPLIT_RE.match(part)
        if not match:
            return None
        percents[f"v{match.group(1)}"] = int(match.group(2))
    try:
        return TrafficSplit(percents)
    except ValidationError:
        return None


def dedicated_resources(scaling: Scaling, machine_type: str | None) -> dict[str, Any]:
    """``Scaling`` as a DedicatedResources dict (CPU % or request-count target)."""
    resources: dict[str, Any] = {
        "machine_spec": {"machine_type": machine_type or DEFAULT_MACHINE_TYPE},
        "min_replica_count": scaling.min_replicas,
        "max_replica_count": scaling.max_replicas,
    }
    if scaling.target is not None:
        metric = CPU_METRIC if scaling.metric == "cpu" else REQUESTS_METRIC
        resources["autoscaling_metric_specs"] = [
            {"metric_name": metric, "target": int(round(scaling.target))}
        ]
    return resources


def scaling_of(resources: Any) -> Scaling:
    """A DedicatedResources proto as ``Scaling``."""
    minimum = max(int(resources.min_replica_count or 1), 1)
    maximum = max(int(resources.max_replica_count or minimum), minimum)
    target, metric = None, "cpu"
    for spec in resources.autoscaling_metric_specs:
        if spec.metric_name in (CPU_METRIC, REQUESTS_METRIC):
            target = float(spec.target)
            metric = "cpu" if spec.metric_name == CPU_METRIC else "requests"
    return Scaling(min_replicas=minimum, max_replicas=maximum, target=target, metric=metric)


def deployed_versions(endpoint: Any) -> dict[str, Any]:
    """Version label -> DeployedModel proto, for the endpoint's deployed models."""
    return {version_label(d.model_version_id or "1"): d for d in endpoint.deployed_models}


def traffic_of(endpoint: Any) -> TrafficSplit:
    """The endpoint's split by version label (deployed models without an entry get 0);
    the empty split when no version receives traffic (never an error)."""
    split = dict(endpoint.traffic_split)
    percents = {version: int(split.get(d.id, 0)) for version, d in deployed_versions(endpoint).items()}
    return TrafficSplit(percents) if any(percents.values()) else TrafficSplit({})


def endpoint_status(endpoint: Any, base_url: str) -> EndpointStatus:
    split = dict(endpoint.traffic_split)
    deployments = []
    for version, deployed in deployed_versions(endpoint).items():
        resources = deployed.dedicated_resources
        deployments.append(
            DeployedVersion(
                version=version,
                traffic=int(split.get(deployed.id, 0)),
                scaling=scaling_of(resources),
                machine_type=resources.machine_spec.machine_type,
                replicas=int(resources.min_replica_count or 0),
                state="serving",
                provider_id=deployed.id,
            )
        )
    name = endpoint.name.rsplit("/", 1)[-1]
    labels = dict(endpoint.labels)
    serving = any(d.traffic for d in deployments)
    return EndpointStatus(
        name=name,
        provider="vertex",
        model=labels.get(MODEL_LABEL, ""),
        state="serving" if serving else "idle",
        native_state="active",
        url=f"{base_url}/v1/{endpoint.name}:predict",
        deployments=tuple(sorted(deployments, key=lambda d: int(d.version[1:]))),
        provider_id=endpoint.name,
    )
