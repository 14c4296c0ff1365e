"""Production variants: A/B testing with weights and target variants.

Sample: aws/amazon-sagemaker-examples, "A/B Testing with Amazon SageMaker"
(two models behind one endpoint config, ``invoke_endpoint(TargetVariant=...)``,
``update_endpoint_weights_and_capacities``), with the boto3 SageMaker reference
for ``CurrentWeight`` / ``DesiredWeight`` and the ``Updating`` state.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.fidelity.conftest import (
    INSTANCE_TYPE,
    SKLEARN_IMAGE,
    unique,
    upload_model,
    wait_in_service,
)


@pytest.fixture(scope="module")
def ab_endpoint(sm, role_arn, bucket, iris):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    models = {}
    for variant, depth in (("Variant1", 1), ("Variant2", 5)):
        estimator = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
        url = upload_model(bucket, f"ab/{variant}/model.tar.gz", estimator)
        name = unique(f"ab-{variant.lower()}")
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=role_arn,
            PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": url},
        )
        models[variant] = (name, estimator)
    endpoint = unique("ab")
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": name,
                "InstanceType": INSTANCE_TYPE,
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 0.5,
            }
            for variant, (name, _) in models.items()
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    wait_in_service(sm, endpoint)
    return endpoint, {variant: estimator for variant, (_, estimator) in models.items()}


def test_target_variant_answers_from_that_variant(smr, ab_endpoint, iris):
    endpoint, estimators = ab_endpoint
    rows = iris[0][45:55].tolist()
    for variant, estimator in estimators.items():
        answer = smr.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Body=json.dumps(rows),
            TargetVariant=variant,
        )
        assert answer["InvokedProductionVariant"] == variant
        assert json.loads(answer["Body"].read()) == estimator.predict(rows).tolist()


def test_weights_update_goes_through_updating_and_moves_all_traffic(sm, smr, ab_endpoint, iris):
    endpoint, _ = ab_endpoint
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "Variant1", "DesiredWeight": 0.0},
            {"VariantName": "Variant2", "DesiredWeight": 1.0},
        ],
    )
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    described = wait_in_service(sm, endpoint)
    weights = {
        v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"])
        for v in described["ProductionVariants"]
    }
    assert weights == {"Variant1": (0.0, 0.0), "Variant2": (1.0, 1.0)}
    rows = iris[0][:2].tolist()
    served = {
        smr.invoke_endpoint(
            EndpointName=endpoint, ContentType="application/json", Body=json.dumps(rows)
        )["InvokedProductionVariant"]
        for _ in range(10)
    }
    assert served == {"Variant2"}


def test_weights_for_an_unknown_variant_are_a_validation_exception(sm, ab_endpoint):
    endpoint, _ = ab_endpoint
    with pytest.raises(ClientError) as raised:
        sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "Variant9", "DesiredWeight": 1.0}],
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
