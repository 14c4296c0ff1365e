"""Application Auto Scaling for SageMaker variants, with the service's rules.

moto accepts a scalable target whose ``MinCapacity`` exceeds its
``MaxCapacity`` and creates no CloudWatch alarms for a SageMaker target
tracking policy. The service refuses the first and, for the second, creates
the two alarms that drive the policy and returns them in ``PutScalingPolicy``'s
``Alarms`` (Application Auto Scaling API reference, RegisterScalableTarget and
PutScalingPolicy; "Target tracking scaling policies" in its user guide):

- ``TargetTracking-<ResourceId>-AlarmHigh-<uuid>``: metric above the target
  for 3 one-minute periods;
- ``TargetTracking-<ResourceId>-AlarmLow-<uuid>``: below 90% of the target for
  15 periods; absent when ``DisableScaleIn`` is true.

Replacing a policy replaces its alarms; deleting it deletes them (moto).
"""

from __future__ import annotations

from typing import Any

#: PredefinedMetricType -> (CloudWatch metric name, statistic) in AWS/SageMaker.
SAGEMAKER_METRICS = {
    "SageMakerVariantInvocationsPerInstance": ("InvocationsPerInstance", "Sum"),
    "SageMakerVariantProvisionedConcurrencyUtilization": (
        "ServerlessProvisionedConcurrencyUtilization",
        "Average",
    ),
    "SageMakerInferenceComponentInvocationsPerCopy": ("InvocationsPerCopy", "Sum"),
    "SageMakerVariantConcurrentRequestsPerModelHighResolution": (
        "ConcurrentRequestsPerModel",
        "Maximum",
    ),
}


def _validation(message: str) -> Exception:
    from moto.applicationautoscaling.exceptions import AWSValidationException

    return AWSValidationException(message)


def checked_register(original):
    """RegisterScalableTarget that refuses MinCapacity > MaxCapacity (given or already set)."""

    def register_scalable_target(
        self, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state
    ):
        current = self.targets.get(dimension, {}).get(r_id)
        low = min_capacity if min_capacity is not None else getattr(current, "min_capacity", None)
        high = max_capacity if max_capacity is not None else getattr(current, "max_capacity", None)
        if current is None and namespace == "sagemaker" and (low is None or high is None):
            raise _validation(
                "MinCapacity and MaxCapacity are required when registering a new scalable target"
            )
        if low is not None and high is not None and int(low) > int(high):
            raise _validation("Minimum capacity cannot be greater than maximum capacity")
        return original(
            self, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state
        )

    return register_scalable_target


def replacing_put(original):
    """PutScalingPolicy that deletes the alarms of the policy it replaces."""

    def put_scaling_policy(
        self,
        policy_name,
        service_namespace,
        resource_id,
        scalable_dimension,
        policy_body,
        policy_type,
    ):
        from moto.applicationautoscaling.models import FakeApplicationAutoscalingPolicy

        key = FakeApplicationAutoscalingPolicy.formulate_key(
            service_namespace, resource_id, scalable_dimension, policy_name
        )
        old = self.policies.get(key)
        policy = original(
            self,
            policy_name,
            service_namespace,
            resource_id,
            scalable_dimension,
            policy_body,
            policy_type,
        )
        if old is not None and old is not policy:
            old.delete_alarms(self.account_id, self.region_name)
        return policy

    return put_scaling_policy


def with_sagemaker_alarms(original):
    """``create_alarms`` of moto's policy that also covers SageMaker target tracking."""

    def create_alarms(self) -> None:
        original(self)
        if self.policy_type == "TargetTrackingScaling" and self.service_namespace == "sagemaker":
            self.alarms.extend(_sagemaker_alarms(self))

    return create_alarms


def _sagemaker_alarms(policy: Any) -> list[Any]:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.moto_api._internal import mock_random

    config = policy.target_tracking_scaling_policy_configuration or {}
    target = float(config.get("TargetValue", 0.0))
    predefined = config.get("PredefinedMetricSpecification") or {}
    custom = config.get("CustomizedMetricSpecification") or {}
    parts = policy.resource_id.split("/")  # endpoint/<ep>/variant/<v>
    if custom:
        namespace = custom.get("Namespace", "AWS/SageMaker")
        metric, statistic = custom.get("MetricName", ""), custom.get("Statistic", "Average")
        dimensions = custom.get("Dimensions") or []
    else:
        namespace = "AWS/SageMaker"
        metric, statistic = SAGEMAKER_METRICS.get(
            predefined.get("PredefinedMetricType", ""), ("InvocationsPerInstance", "Sum")
        )
        dimensions = (
            [
                {"Name": "EndpointName", "Value": parts[1]},
                {"Name": "VariantName", "Value": parts[3]},
            ]
            if len(parts) == 4
            else []
        )
    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    action = f"{policy.policy_arn}:createdBy/{mock_random.uuid4()}"
    description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {action}."
    shapes = [("AlarmHigh", "GreaterThanThreshold", 3, target)]
    if not config.get("DisableScaleIn"):
        shapes.append(("AlarmLow", "LessThanThreshold", 15, round(target * 0.9, 6)))
    return [
        cloudwatch.put_metric_alarm(
            name=f"TargetTracking-{policy.resource_id}-{kind}-{mock_random.uuid4()}",
            namespace=namespace,
            metric_name=metric,
            metric_data_queries=[],
            comparison_operator=operator,
            evaluation_periods=periods,
            period=60,
            threshold=threshold,
            statistic=statistic,
            description=description,
            dimensions=dimensions,
            alarm_actions=[action],
        )
        for kind, operator, periods, threshold in shapes
    ]


def install() -> None:
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        FakeApplicationAutoscalingPolicy,
    )

    ApplicationAutoscalingBackend.register_scalable_target = checked_register(
        ApplicationAutoscalingBackend.register_scalable_target
    )
    ApplicationAutoscalingBackend.put_scaling_policy = replacing_put(
        ApplicationAutoscalingBackend.put_scaling_policy
    )
    FakeApplicationAutoscalingPolicy.create_alarms = with_sagemaker_alarms(
        FakeApplicationAutoscalingPolicy.create_alarms
    )
