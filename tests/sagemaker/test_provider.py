"""What the SageMaker provider does beyond the shared contract."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from cloudeploy.config import Profile
from cloudeploy.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    OperationFailed,
    TransientError,
    ValidationError,
)
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.providers.sagemaker.errors import translate
from cloudeploy.providers.sagemaker.images import container_image
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from cloudeploy.types import Scaling
from tests.sagemaker.conftest import BUCKET


@pytest.fixture
def provider(emu, settings):
    return SageMakerProvider(Profile(name="emulation", provider="sagemaker", settings=settings))


@pytest.fixture
def package(tmp_path):
    from cloudeploy.packaging import build_package

    def make(seed: int):
        return build_package(fitted_classifier(seed), tmp_path / f"package-{seed}", name="p").path

    return make


@pytest.fixture
def live(provider, package):
    """Endpoint "house" serving v1 of model "house"."""
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1)
    return v1


def firing_alarm(cloudwatch, name: str = "errors") -> dict:
    cloudwatch.put_metric_alarm(
        AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 0,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name}]},
    }


# -- profile ---------------------------------------------------------------------


def test_profile_without_bucket_and_role_is_a_config_error():
    with pytest.raises(ConfigError, match="missing bucket, role_arn"):
        SageMakerProvider(
            Profile(name="aws", provider="sagemaker", settings={"region": "eu-west-1"})
        )


def test_profile_with_an_unknown_setting_is_a_config_error():
    settings = {"region": "eu-west-1", "bucket": "b", "role_arn": "arn:role", "projet": "typo"}
    with pytest.raises(ConfigError, match="projet"):
        SageMakerProvider(Profile(name="aws", provider="sagemaker", settings=settings))


def test_subnets_without_security_groups_are_a_config_error():
    settings = {
        "region": "eu-west-1",
        "bucket": "b",
        "role_arn": "arn:role",
        "subnets": ["subnet-1"],
    }
    with pytest.raises(ConfigError, match="go together"):
        SageMakerProvider(Profile(name="aws", provider="sagemaker", settings=settings))


# -- containers and errors ---------------------------------------------------------


def test_a_supported_scikit_learn_gets_the_prebuilt_image():
    image = container_image("1.2.2", "eu-west-1", "ours:1")
    assert (
        image == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    )


def test_a_newer_scikit_learn_gets_the_serving_image():
    assert container_image("1.7.1", "eu-west-1", "ours:1") == "ours:1"


def test_a_newer_scikit_learn_without_serving_image_is_a_config_error():
    with pytest.raises(ConfigError, match="serving_image"):
        container_image("1.7.1", "eu-west-1", None)


@pytest.mark.parametrize(
    ("code", "message", "status", "kind"),
    [
        ("ValidationException", "Could not find endpoint 'x'.", 400, NotFoundError),
        ("ValidationException", "Cannot update in-progress endpoint", 400, ConflictError),
        (
            "ValidationException",
            "Value 'x' at 'y' failed to satisfy constraint",
            400,
            ValidationError,
        ),
        ("ThrottlingException", "Rate exceeded", 400, TransientError),
        ("InternalFailure", "oops", 500, TransientError),
    ],
)
def test_service_errors_map_to_cloudeploy_errors_with_the_message(code, message, status, kind):
    error = ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Op",
    )
    translated = translate(error, "doing it")
    assert type(translated) is kind
    assert message in str(translated)


# -- registry ----------------------------------------------------------------------


def test_upload_registers_a_package_in_the_models_group(provider, package, sm, s3):
    version = provider.upload_model(package(0), "house")
    described = sm.describe_model_package(ModelPackageName=version.provider_id)
    assert (described["ModelPackageGroupName"], described["ModelPackageVersion"]) == ("house", 1)
    assert described["CustomerMetadataProperties"]["cloudeploy-digest"] == version.digest
    bucket, key = version.uri.removeprefix("s3://").split("/", 1)
    assert bucket == BUCKET and key.endswith("/model.tar.gz")
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0


def test_an_alias_approves_the_version(provider, package, sm):
    version = provider.upload_model(package(0), "house", aliases=["production"])
    assert (
        sm.describe_model_package(ModelPackageName=version.provider_id)["ModelApprovalStatus"]
        == "Approved"
    )


def test_invalid_model_name_is_a_validation_error(provider, package):
    with pytest.raises(ValidationError, match="invalid model name"):
        provider.upload_model(package(0), "house_prices!")


# -- endpoints ----------------------------------------------------------------------


def test_guarded_deploy_rolled_back_by_an_alarm_is_an_error_and_v1_keeps_serving(
    provider, live, package, cloudwatch
):
    v2 = provider.upload_model(package(1), "house")
    with pytest.raises(OperationFailed, match="rolled endpoint house back"):
        provider.deploy(
            "house", v2, traffic=10, options={"deployment_config": firing_alarm(cloudwatch)}
        )
    assert provider.get_endpoint("house").traffic.to_dict() == {"v1": 100}
    rows = sample_instances()
    assert (
        provider.predict("house", rows).predictions == fitted_classifier(0).predict(rows).tolist()
    )


def test_deploy_rerun_after_a_rollback_converges(provider, live, package, cloudwatch):
    v2 = provider.upload_model(package(1), "house")
    guard = firing_alarm(cloudwatch)
    with pytest.raises(OperationFailed):
        provider.deploy("house", v2, traffic=10, options={"deployment_config": guard})
    cloudwatch.set_alarm_state(AlarmName="errors", StateValue="OK", StateReason="fixed")
    status = provider.deploy("house", v2, traffic=10, options={"deployment_config": guard})
    assert status.traffic.to_dict() == {"v1": 90, "v2": 10}


def test_old_endpoint_configs_are_deleted_once_the_new_one_serves(provider, live, package, sm):
    v2 = provider.upload_model(package(1), "house")
    provider.deploy("house", v2, traffic=10)
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert configs == [sm.describe_endpoint(EndpointName="house")["EndpointConfigName"]]


def test_failed_first_deploy_leaves_nothing_and_a_rerun_converges(provider, package, s3):
    v1 = provider.upload_model(package(0), "house")
    bucket, key = v1.uri.removeprefix("s3://").split("/", 1)
    good = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=b"not a tarball")
    provider.create_endpoint("house", model="house")
    with pytest.raises(OperationFailed, match="not a readable tar.gz"):
        provider.deploy("house", v1)
    assert provider.get_endpoint("house").deployments == ()
    s3.put_object(Bucket=bucket, Key=key, Body=good)
    assert provider.deploy("house", v1).traffic.to_dict() == {"v1": 100}


def test_autoscaling_is_a_target_tracking_policy_on_invocations(provider, live, emu):
    provider.deploy("house", live, scaling=Scaling(1, 3, target=50, metric="requests"))
    autoscaling = emu.client("application-autoscaling")
    target = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][
        0
    ]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/house/variant/v1",
        1,
        3,
    )
    policy = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"][
        0
    ]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["TargetValue"] == 50
    assert provider.get_endpoint("house").deployment("v1").scaling.max_replicas == 3


def test_cpu_target_autoscaling_is_refused_before_any_change(provider, package):
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    with pytest.raises(ValidationError, match="invocations per instance"):
        provider.deploy("house", v1, scaling=Scaling(1, 3, target=60, metric="cpu"))
    assert provider.get_endpoint("house").deployments == ()


def test_unknown_deploy_option_is_refused_before_any_change(provider, package):
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    with pytest.raises(ValidationError, match="unknown option"):
        provider.deploy("house", v1, options={"colour": "blue"})
    assert provider.get_endpoint("house").deployments == ()


def test_data_capture_option_captures_predictions(provider, package, s3):
    v1 = provider.upload_model(package(0), "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1, options={"data_capture": {"sampling_percentage": 100}})
    provider.predict("house", sample_instances(2))
    captured = s3.list_objects_v2(Bucket=BUCKET, Prefix="cloudeploy/capture/house/v1/")
    assert captured["KeyCount"] == 1


def test_version_metrics_count_requests_and_errors(provider, live):
    import time

    since = time.time() - 1
    provider.predict("house", sample_instances(2))
    provider.predict("house", sample_instances(2))
    with pytest.raises(ValidationError):
        provider.predict("house", [[1.0]])
    metrics = provider.version_metrics("house", "v1", since=since)
    assert (metrics.requests, metrics.errors) == (3, 1)
    assert metrics.p99_ms > 0


def test_endpoint_made_outside_cloudeploy_is_adopted(provider, sm, s3, settings, tmp_path):
    from tests.sagemaker.conftest import INSTANCE, package_tarball

    s3.put_object(Bucket=BUCKET, Key="tf/model.tar.gz", Body=package_tarball(0, tmp_path))
    sm.create_model(
        ModelName="tf-model", ExecutionRoleArn=settings["role_arn"],
        PrimaryContainer={"Image": settings["serving_image"], "ModelDataUrl": f"s3://{BUCKET}/tf/model.tar.gz"},
    )  # fmt: skip
    sm.create_endpoint_config(
        EndpointConfigName="tf-config",
        ProductionVariants=[
            {
                "VariantName": "v1",
                "ModelName": "tf-model",
                "InstanceType": INSTANCE,
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="house", EndpointConfigName="tf-config")
    status = provider.create_endpoint("house", model="house")
    assert status.traffic.to_dict() == {"v1": 100}
