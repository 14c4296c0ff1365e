"""SageMaker shapes <-> cloudeploy types: weights and percents, describe -> EndpointStatus."""

from __future__ import annotations

from typing import Any

from cloudeploy.types import (
    DeployedVersion,
    EndpointStatus,
    Scaling,
    TrafficSplit,
    normalize_version,
)

#: Endpoint states during which a change is still being applied.
BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


def percents(weights: dict[str, float]) -> dict[str, int]:
    """Relative weights -> whole percents summing to 100 (largest remainders get the rest)."""
    total = sum(weights.values())
    if total <= 0:
        return {name: 0 for name in weights}
    shares = {name: 100 * w / total for name, w in weights.items()}
    result = {name: int(share) for name, share in shares.items()}
    leftover = 100 - sum(result.values())
    for name, _ in sorted(shares.items(), key=lambda kv: kv[1] - int(kv[1]), reverse=True)[
        :leftover
    ]:
        result[name] += 1
    return result


def is_version_label(name: str) -> bool:
    try:
        return normalize_version(name) == name
    except Exception:
        return False


def variant_weights(description: dict[str, Any]) -> dict[str, float]:
    return {
        v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0)))
        for v in description.get("ProductionVariants", [])
    }


def traffic_of(description: dict[str, Any]) -> TrafficSplit:
    weights = {k: w for k, w in variant_weights(description).items() if is_version_label(k)}
    # Variants not named after a version (an adopted endpoint's "AllTraffic") are not
    # cloudeploy's to split; if they hold all the weight, no version has traffic.
    if sum(weights.values()) <= 0:
        return TrafficSplit({})
    return TrafficSplit(percents(weights))


def status_of(
    name: str,
    model: str,
    description: dict[str, Any] | None,
    config: dict[str, Any] | None,
    scaling: dict[str, tuple[int, int, float | None]],
    url: str,
) -> EndpointStatus:
    """EndpointStatus from DescribeEndpoint (None: no SageMaker endpoint yet) and its config."""
    if description is None:
        # Only cloudeploy's record: nothing deployed yet.
        return EndpointStatus(name=name, provider="sagemaker", model=model, state="idle", url=url)
    traffic = traffic_of(description).to_dict()
    specs = {v["VariantName"]: v for v in (config or {}).get("ProductionVariants", [])}
    deployments = []
    for variant in description.get("ProductionVariants", []):
        label = variant["VariantName"]
        if not is_version_label(label):
            continue
        count = int(
            variant.get("CurrentInstanceCount", variant.get("DesiredInstanceCount", 0)) or 0
        )
        low, high, target = scaling.get(label, (count or 1, count or 1, None))
        deployments.append(
            DeployedVersion(
                version=label,
                traffic=traffic.get(label, 0),
                scaling=Scaling(low, high, target, "requests" if target else "cpu"),
                machine_type=specs.get(label, {}).get("InstanceType", ""),
                replicas=count,
                state="serving"
                if description["EndpointStatus"] == "InService"
                else description["EndpointStatus"].lower(),
                provider_id=specs.get(label, {}).get("ModelName", ""),
            )
        )
    deployments.sort(key=lambda d: int(d.version[1:]))
    native = description["EndpointStatus"]
    return EndpointStatus(
        name=name,
        provider="sagemaker",
        model=model,
        state=endpoint_state(native, serving=any(d.traffic for d in deployments)),
        url=url,
        deployments=tuple(deployments),
        provider_id=description["EndpointArn"],
        native_state=native,
    )


def endpoint_state(native: str, *, serving: bool) -> str:
    """SageMaker's ``EndpointStatus`` in cloudeploy's vocabulary (``types.ENDPOINT_STATES``)."""
    if native == "InService":
        return "serving" if serving else "idle"
    return {
        "Creating": "creating",
        "Updating": "updating",
        "SystemUpdating": "updating",
        "RollingBack": "updating",
        "UpdateRollbackFailed": "failed",
        "Deleting": "deleting",
        "Failed": "failed",
        "OutOfService": "failed",
    }.get(native, "failed")
