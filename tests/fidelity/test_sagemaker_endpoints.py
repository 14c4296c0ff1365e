"""Real-time endpoints, the boto3 flow of the scikit-learn samples.

Sample: aws/amazon-sagemaker-examples, "Deploy a scikit-learn model to a real-time
endpoint" (``create_model`` -> ``create_endpoint_config`` -> ``create_endpoint`` ->
``endpoint_in_service`` waiter -> ``sagemaker-runtime`` ``invoke_endpoint``), with the
boto3 SageMaker reference for states, fields and errors, and the SageMaker inference
toolkit for the scikit-learn container's content types.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import deploy, wait_in_service


@pytest.fixture(scope="module")
def endpoint(sm, role_arn, model_url):
    name = deploy(sm, role_arn, model_url)
    wait_in_service(sm, name)
    return name


def test_a_new_endpoint_is_creating_before_it_is_in_service(sm, role_arn, model_url):
    name = deploy(sm, role_arn, model_url)
    first = sm.describe_endpoint(EndpointName=name)
    assert first["EndpointStatus"] == "Creating"
    described = wait_in_service(sm, name)
    assert described["EndpointStatus"] == "InService"
    variant = described["ProductionVariants"][0]
    assert (variant["VariantName"], variant["CurrentInstanceCount"], variant["CurrentWeight"]) == (
        "AllTraffic",
        1,
        1.0,
    )
    sm.delete_endpoint(EndpointName=name)


def test_json_request_gets_a_plain_json_list(smr, endpoint, classifier, iris):
    rows = iris[0][:3].tolist()
    answer = smr.invoke_endpoint(
        EndpointName=endpoint, ContentType="application/json", Body=json.dumps(rows)
    )
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read()) == classifier.predict(rows).tolist()
    assert answer["InvokedProductionVariant"] == "AllTraffic"


def test_csv_request_without_accept_gets_json(smr, endpoint, classifier, iris):
    rows = iris[0][:2].tolist()
    body = "\n".join(",".join(str(v) for v in row) for row in rows)
    answer = smr.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read()) == classifier.predict(rows).tolist()


def test_a_json_object_body_is_a_model_error_as_the_container_cannot_decode_it(smr, endpoint, iris):
    """The toolkit decodes JSON with np.array(json.loads(body)): an object is no rows."""
    rows = iris[0][:2].tolist()
    with pytest.raises(ClientError) as raised:
        smr.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=json.dumps({"instances": rows})
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 500


def test_a_taken_model_name_is_a_validation_exception(sm, role_arn, model_url):
    from tests.fidelity.conftest import SKLEARN_IMAGE

    container = {"Image": SKLEARN_IMAGE, "ModelDataUrl": model_url}
    sm.create_model(ModelName="taken", ExecutionRoleArn=role_arn, PrimaryContainer=container)
    with pytest.raises(ClientError) as raised:
        sm.create_model(ModelName="taken", ExecutionRoleArn=role_arn, PrimaryContainer=container)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "Cannot create already existing model" in error["Message"]


def test_the_execution_role_carries_the_aws_managed_policy(aws_env, role_arn):
    import boto3

    iam = boto3.client("iam")
    attached = iam.list_attached_role_policies(RoleName=role_arn.rsplit("/", 1)[-1])
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    ]
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    assert policy["Policy"]["AttachmentCount"] == 1


def test_an_unknown_aws_managed_policy_is_no_such_entity(aws_env, role_arn):
    import boto3

    iam = boto3.client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.attach_role_policy(
            RoleName=role_arn.rsplit("/", 1)[-1], PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy"
        )


def test_invoking_an_unknown_endpoint_is_a_validation_error(smr):
    with pytest.raises(ClientError) as raised:
        smr.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body="1,2,3,4")
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_a_deleted_endpoint_cannot_be_described(sm, role_arn, model_url):
    name = deploy(sm, role_arn, model_url)
    wait_in_service(sm, name)
    sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as raised:
        sm.describe_endpoint(EndpointName=name)
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_an_operation_the_emulation_lacks_answers_not_implemented_naming_it(sm):
    with pytest.raises(ClientError) as raised:
        sm.create_inference_component(
            InferenceComponentName="ic",
            EndpointName="any",
            VariantName="AllTraffic",
            Specification={
                "ModelName": "m",
                "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 1024},
            },
            RuntimeConfig={"CopyCount": 1},
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "NotImplemented"
    assert "CreateInferenceComponent" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501
