"""The Model Registry: register versions, approve one, deploy it.

Sample: the SageMaker developer guide "Register a Model Version" and "Deploy a
Model from the Registry with Boto3" (``create_model_package_group``,
``create_model_package`` with ``InferenceSpecification``, ``update_model_package``
to ``Approved``, then ``create_model`` with ``PrimaryContainer={"ModelPackageName":
arn}`` and an endpoint), as in aws/amazon-sagemaker-examples' model registry
notebooks; the CreateModel reference for the container that names a model package.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import INSTANCE_TYPE, SKLEARN_IMAGE, unique, wait_in_service


@pytest.fixture(scope="module")
def group(sm):
    name = unique("iris-models")
    sm.create_model_package_group(ModelPackageGroupName=name, ModelPackageGroupDescription="iris")
    return name


def register(sm, group: str, url: str) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription="iris classifier",
        InferenceSpecification={
            "Containers": [{"Image": SKLEARN_IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="PendingManualApproval",
    )["ModelPackageArn"]


def test_versions_count_up_and_approval_is_recorded(sm, group, model_url):
    first, second = register(sm, group, model_url), register(sm, group, model_url)
    versions = [
        sm.describe_model_package(ModelPackageName=arn)["ModelPackageVersion"]
        for arn in (first, second)
    ]
    assert versions == [1, 2]
    sm.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Approved")
    approved = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [second]


def test_a_model_made_from_a_package_serves_it(
    sm, smr, role_arn, group, model_url, classifier, iris
):
    arn = register(sm, group, model_url)
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    model = unique("registry-model")
    sm.create_model(
        ModelName=model, ExecutionRoleArn=role_arn, PrimaryContainer={"ModelPackageName": arn}
    )
    endpoint = unique("registry")
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    described = wait_in_service(sm, endpoint)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    rows = iris[0][::30].tolist()
    answer = smr.invoke_endpoint(
        EndpointName=endpoint, ContentType="application/json", Body=json.dumps(rows)
    )
    assert json.loads(answer["Body"].read()) == classifier.predict(rows).tolist()


def test_a_model_naming_an_unknown_package_is_a_validation_exception(sm, role_arn, group):
    missing = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/99"
    with pytest.raises(ClientError) as raised:
        sm.create_model(
            ModelName=unique("nope"),
            ExecutionRoleArn=role_arn,
            PrimaryContainer={"ModelPackageName": missing},
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
