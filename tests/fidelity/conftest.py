"""Fixtures for the fidelity suite: the official samples' flows against the emulators.

A fidelity test uses only the official SDK calls its sample uses (boto3, the
SageMaker Python SDK v3 ``sagemaker.core`` resources) and checks the results the
service documents. The SDKs find the emulation the way they find AWS: through
``AWS_ENDPOINT_URL``, dummy credentials and the region in the environment
(``aws_env``). Each module gets one emulation state (``aws_env`` resets it once)
and names its resources uniquely, so tests in a module share models and roles.
The Vertex AI half keeps its fixtures in its own modules.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import pytest

# The Vertex AI half's module-scoped fixtures (emulator + aiplatform.init, model artifacts).
from tests.fidelity.vertex_fixtures import model_uri, vertex  # noqa: F401

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
#: The scikit-learn inference image the samples use (us-east-1).
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
INSTANCE_TYPE = "ml.m5.large"


@pytest.fixture(scope="module")
def aws_env(sagemaker_emulator_session, tmp_path_factory):
    """The emulation, reset, with the environment pointing every AWS SDK at it."""
    sagemaker_emulator_session.reset()
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in sagemaker_emulator_session.environment().items():
            patch.setenv(key, value)
        # Keep the user's own AWS configuration out of the SDKs' reach.
        patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        yield sagemaker_emulator_session


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def bucket(aws_env):
    import boto3

    name = unique("sagemaker-fidelity")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def role_arn(aws_env):
    """An execution role as the samples make one: trust policy + AmazonSageMakerFullAccess."""
    import boto3

    iam = boto3.client("iam")
    name = unique("sagemaker-execution")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))["Role"][
        "Arn"
    ]
    iam.attach_role_policy(
        RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    )
    return arn


@pytest.fixture(scope="module")
def iris():
    """(X, y) of the iris data set, as the scikit-learn samples train on it."""
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data, data.target


def upload_model(bucket: str, key: str, estimator) -> str:
    """``model.tar.gz`` holding ``model.joblib`` (the scikit-learn samples' layout) -> its S3 URL."""
    import boto3
    import joblib

    raw = io.BytesIO()
    joblib.dump(estimator, raw)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = len(raw.getvalue())
        tar.addfile(info, io.BytesIO(raw.getvalue()))
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=archive.getvalue())
    return f"s3://{bucket}/{key}"


@pytest.fixture(scope="module")
def classifier(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    return LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture(scope="module")
def model_url(bucket, classifier):
    return upload_model(bucket, "sklearn/model/model.tar.gz", classifier)


@pytest.fixture(scope="module")
def sm(aws_env):
    import boto3

    return boto3.client("sagemaker")


@pytest.fixture(scope="module")
def smr(aws_env):
    import boto3

    return boto3.client("sagemaker-runtime")


def wait_in_service(sm, endpoint: str) -> dict:
    """The samples' waiter, polling every 0.2 s instead of 30 (WaiterConfig is SDK API)."""
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600}
    )
    return sm.describe_endpoint(EndpointName=endpoint)


def deploy(
    sm, role_arn: str, model_url: str, *, image: str = SKLEARN_IMAGE, variants=None, **config
):
    """CreateModel + CreateEndpointConfig + CreateEndpoint, as the samples call them; -> endpoint name."""
    model = unique("model")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": image, "ModelDataUrl": model_url},
    )
    endpoint = unique("endpoint")
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=variants
        or [
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
        **config,
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    return endpoint
