"""Fixtures for the SageMaker emulation and provider tests.

Every test gets a clean emulation (``sagemaker_emulator`` resets it) with a
bucket and an execution role. Helpers build model artifacts in emulated S3 and
endpoints with plain boto3, so the emulation tests use nothing of cloudeploy
but the artifacts.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import joblib
import pytest

from cloudeploy.testing.conformance import fitted_classifier, sample_instances

BUCKET = "cloudeploy-test"
INSTANCE = "ml.m5.large"


@pytest.fixture
def emu(sagemaker_emulator):
    return sagemaker_emulator


@pytest.fixture
def settings(emu):
    return emu.profile_settings(bucket=BUCKET)


@pytest.fixture
def sm(emu, settings):
    return emu.client("sagemaker")


@pytest.fixture
def runtime(emu, settings):
    return emu.client("sagemaker-runtime")


@pytest.fixture
def s3(emu, settings):
    return emu.client("s3")


@pytest.fixture
def cloudwatch(emu, settings):
    return emu.client("cloudwatch")


_TARBALLS: dict[int, bytes] = {}


def package_tarball(seed: int, workdir: Path) -> bytes:
    """``model.tar.gz`` holding a cloudeploy package of ``fitted_classifier(seed)``.

    Built once per seed per test session: packaging is not what these tests test.
    """
    from cloudeploy.packaging import build_package

    if seed not in _TARBALLS:
        package = build_package(
            fitted_classifier(seed), workdir / f"package-{seed}", name="emulated"
        ).path
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in sorted(Path(package).iterdir()):
                archive.add(path, arcname=path.name)
        _TARBALLS[seed] = buffer.getvalue()
    return _TARBALLS[seed]


@pytest.fixture
def put_model(sm, s3, settings, tmp_path):
    """put_model(name, seed=0, artifact="package"|"joblib"|"missing") -> SageMaker model name.

    Uploads the artifact to S3 and calls CreateModel with it.
    """

    def put(name: str, seed: int = 0, artifact: str = "package") -> str:
        if artifact == "package":
            key = f"models/{name}/model.tar.gz"
            s3.put_object(Bucket=BUCKET, Key=key, Body=package_tarball(seed, tmp_path))
        elif artifact == "joblib":
            key = f"models/{name}/model.joblib"
            buffer = io.BytesIO()
            joblib.dump(fitted_classifier(seed), buffer)
            s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
        else:
            key = f"models/{name}/absent.tar.gz"
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=settings["role_arn"],
            PrimaryContainer={
                "Image": settings["serving_image"],
                "ModelDataUrl": f"s3://{BUCKET}/{key}",
            },
        )
        return name

    return put


@pytest.fixture
def put_config(sm):
    """put_config(name, {variant: (model, weight)}, **extra) -> config name."""

    def put(name: str, variants: dict[str, tuple[str, float]], **extra) -> str:
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": model,
                    "InstanceType": INSTANCE,
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": weight,
                }
                for variant, (model, weight) in variants.items()
            ],
            **extra,
        )
        return name

    return put


@pytest.fixture
def in_service(sm):
    """in_service(endpoint) -> describe response, after the boto3 waiter returns."""

    def wait(endpoint: str) -> dict:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )
        return sm.describe_endpoint(EndpointName=endpoint)

    return wait


BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


def settle(sm, endpoint: str, timeout: float = 120.0) -> dict:
    """Poll DescribeEndpoint until no operation is in progress; return the description."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in BUSY or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def instances(n: int = 5) -> list[list[float]]:
    return sample_instances(n)


def expected(seed: int, rows: list[list[float]]) -> list:
    return fitted_classifier(seed).predict(rows).tolist()
