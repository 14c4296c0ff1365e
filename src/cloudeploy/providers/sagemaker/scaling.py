"""Autoscaling of a variant: an Application Auto Scaling target-tracking policy.

ResourceId ``endpoint/<endpoint>/variant/<variant>``, dimension
``sagemaker:variant:DesiredInstanceCount``, metric
``SageMakerVariantInvocationsPerInstance``. A variant whose min equals its max
has no scalable target.
"""

from __future__ import annotations

from cloudeploy.errors import ValidationError
from cloudeploy.providers.sagemaker.client import Clients
from cloudeploy.providers.sagemaker.errors import translated
from cloudeploy.types import Scaling

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
#: Invocations per instance per minute when the scaling gives no target.
DEFAULT_TARGET = 100.0


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    return f"cloudeploy-{endpoint}-{variant}"[:256]


def check(scaling: Scaling) -> Scaling:
    """Refuse what Application Auto Scaling would accept but cannot mean."""
    if scaling.min_replicas > (scaling.max_replicas or scaling.min_replicas):
        raise ValidationError(
            f"min_replicas ({scaling.min_replicas}) is greater than max_replicas ({scaling.max_replicas})"
        )
    if (
        scaling.metric == "cpu"
        and scaling.target is not None
        and scaling.max_replicas != scaling.min_replicas
    ):
        raise ValidationError(
            "SageMaker autoscales on invocations per instance; use Scaling(metric='requests', target=N)",
        )
    return scaling


def apply(clients: Clients, endpoint: str, variant: str, scaling: Scaling) -> None:
    aas = clients.autoscaling
    rid = resource_id(endpoint, variant)
    with translated(f"configuring autoscaling of {endpoint}/{variant}"):
        if scaling.max_replicas == scaling.min_replicas:
            remove(clients, endpoint, variant)
            return
        aas.register_scalable_target(
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            MinCapacity=scaling.min_replicas,
            MaxCapacity=scaling.max_replicas,
        )
        aas.put_scaling_policy(
            PolicyName=policy_name(endpoint, variant),
            ServiceNamespace=NAMESPACE,
            ResourceId=rid,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(scaling.target or DEFAULT_TARGET),
                "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )


def read(
    clients: Clients, endpoint: str, variants: list[str]
) -> dict[str, tuple[int, int, float | None]]:
    """variant -> (min, max, target) for variants with a scalable target."""
    if not variants:
        return {}
    aas = clients.autoscaling
    ids = [resource_id(endpoint, v) for v in variants]
    found: dict[str, tuple[int, int, float | None]] = {}
    with translated(f"reading autoscaling of {endpoint}"):
        targets = aas.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=ids)[
            "ScalableTargets"
        ]
        policies = aas.describe_scaling_policies(ServiceNamespace=NAMESPACE)["ScalingPolicies"]
    target_values = {
        p["ResourceId"]: (p.get("TargetTrackingScalingPolicyConfiguration") or {}).get(
            "TargetValue"
        )
        for p in policies
    }
    for target in targets:
        if target["ResourceId"] in ids:
            variant = target["ResourceId"].rsplit("/", 1)[-1]
            found[variant] = (
                int(target["MinCapacity"]),
                int(target["MaxCapacity"]),
                target_values.get(target["ResourceId"]),
            )
    return found


def remove(clients: Clients, endpoint: str, variant: str) -> None:
    aas = clients.autoscaling
    rid = resource_id(endpoint, variant)
    with translated(f"removing autoscaling of {endpoint}/{variant}"):
        existing = aas.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=[rid])[
            "ScalableTargets"
        ]
        if not existing:
            return
        for policy in aas.describe_scaling_policies(ServiceNamespace=NAMESPACE, ResourceId=rid)[
            "ScalingPolicies"
        ]:
            aas.delete_scaling_policy(
                PolicyName=policy["PolicyName"],
                ServiceNamespace=NAMESPACE,
                ResourceId=rid,
                ScalableDimension=DIMENSION,
            )
        aas.deregister_scalable_target(
            ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION
        )
