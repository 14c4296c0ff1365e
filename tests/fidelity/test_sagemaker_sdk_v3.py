"""The SageMaker Python SDK v3 resource classes (``sagemaker.core.resources``).

Sample: aws/sagemaker-python-sdk v3 examples for ``sagemaker.core`` (``Model.create``
with a ``ContainerDefinition``, ``EndpointConfig.create`` with ``ProductionVariant``,
``Endpoint.create``, ``wait_for_status("InService")``, ``invoke``, ``delete``),
unchanged; the SDK reads the region and endpoint from the environment as it does
for AWS.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import INSTANCE_TYPE, SKLEARN_IMAGE, unique


@pytest.fixture(scope="module")
def endpoint(aws_env, role_arn, model_url):
    from sagemaker.core.resources import Endpoint, EndpointConfig, Model
    from sagemaker.core.shapes import ContainerDefinition, ProductionVariant

    model = Model.create(
        model_name=unique("v3-model"),
        primary_container=ContainerDefinition(image=SKLEARN_IMAGE, model_data_url=model_url),
        execution_role_arn=role_arn,
    )
    config = EndpointConfig.create(
        endpoint_config_name=unique("v3-config"),
        production_variants=[
            ProductionVariant(
                variant_name="AllTraffic",
                model_name=model.model_name,
                instance_type=INSTANCE_TYPE,
                initial_instance_count=1,
            )
        ],
    )
    return Endpoint.create(
        endpoint_name=unique("v3"), endpoint_config_name=config.endpoint_config_name
    )


def test_a_created_endpoint_is_creating_then_waits_to_in_service(endpoint):
    assert endpoint.endpoint_status == "Creating"
    endpoint.wait_for_status("InService", poll=1, timeout=300)
    assert endpoint.endpoint_status == "InService"
    assert endpoint.production_variants[0].current_instance_count == 1


def test_invoke_answers_the_containers_plain_list(endpoint, classifier, iris):
    endpoint.wait_for_status("InService", poll=1, timeout=300)
    rows = iris[0][100:103].tolist()
    answer = endpoint.invoke(body=json.dumps(rows), content_type="application/json")
    assert json.loads(answer.body.read()) == classifier.predict(rows).tolist()


def test_a_taken_model_name_raises_the_services_error(aws_env, role_arn, model_url):
    from sagemaker.core.resources import Model
    from sagemaker.core.shapes import ContainerDefinition

    name = unique("v3-taken")
    container = ContainerDefinition(image=SKLEARN_IMAGE, model_data_url=model_url)
    Model.create(model_name=name, primary_container=container, execution_role_arn=role_arn)
    with pytest.raises(ClientError, match="Cannot create already existing model"):
        Model.create(model_name=name, primary_container=container, execution_role_arn=role_arn)


def test_a_deleted_endpoint_is_gone(endpoint):
    from sagemaker.core.resources import Endpoint

    endpoint.wait_for_status("InService", poll=1, timeout=300)
    endpoint.delete()
    with pytest.raises(ClientError, match="Could not find endpoint"):
        Endpoint.get(endpoint_name=endpoint.endpoint_name)
