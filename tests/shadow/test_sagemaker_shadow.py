"""Shadow variants on SageMaker, against the emulation.

One endpoint serves the module: v1 serving 100% with data capture on, v2
(agreeing) and v3 (disagreeing) deployed at 0%. A shadow run moves the
candidate into a ``ShadowProductionVariants`` variant; the service copies the
requests to it, its metrics come from CloudWatch (variant ``<version>-shadow``)
and its answers from data capture. Clients only ever get v1's answers.
"""

from __future__ import annotations

import pytest

import cloudeploy
from cloudeploy.config import Profile
from cloudeploy.providers.capabilities import ShadowUnavailable
from cloudeploy.rollout import RolloutPlan, run_promotion
from cloudeploy.rollout.shadow import run_shadow
from cloudeploy.types import TrafficSplit
from tests.shadow import models
from tests.shadow.streams import predictions

ENDPOINT = "shadow"
STARTING = {"v1": 100, "v2": 0, "v3": 0}


def plan(**extra) -> RolloutPlan:
    return RolloutPlan(shadow={"duration": "3s"}, steps=(100,), bake_s=1, min_requests=30, max_wait_s=60, **extra)


@pytest.fixture(scope="module")
def sagemaker(sagemaker_emulator_session):
    from cloudeploy.providers.sagemaker import SageMakerProvider

    emulation = sagemaker_emulator_session
    emulation.reset()
    provider = SageMakerProvider(Profile(name="emulation", provider="sagemaker",
                                         settings=emulation.profile_settings()))
    for number, model in enumerate((models.serving(), models.agreeing(), models.disagreeing())):
        options = {"data_capture": {"sampling_percentage": 100}} if number == 0 else None
        cloudeploy.deploy(model, ENDPOINT, model_name="forest", provider=provider,
                          traffic=None if number == 0 else 0, options=options)
    yield provider
    emulation.reset()


@pytest.fixture
def provider(sagemaker, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))  # a fresh rollout state store per test
    sagemaker.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return sagemaker


def test_promote_with_shadow_refuses_a_disagreeing_candidate_before_user_traffic(provider):
    with predictions(provider, ENDPOINT) as answered:
        result = run_promotion(provider, ENDPOINT, "v3", plan())
    assert result.rolled_back
    [decision] = result.decisions
    assert decision.action == "shadow"
    assert {g["gate"]: g["passed"] for g in decision.gates}["agreement"] is False
    assert decision.metrics["agreement"]["rows"] >= 30 and decision.metrics["agreement"]["share"] < 0.75
    assert decision.metrics["new"]["requests"] >= 30  # CloudWatch of the shadow variant v3-shadow
    assert result.traffic == STARTING  # v2 and v3 are back at 0%, v1 never left 100%
    assert set(answered) == {"v1"}


def test_promote_with_shadow_promotes_an_agreeing_candidate(provider):
    with predictions(provider, ENDPOINT, max_requests=6000) as answered:  # on through the steps
        result = run_promotion(provider, ENDPOINT, "v2", plan())
    assert result.promoted, result.reason
    assert result.decisions[0].action == "shadow"
    assert result.decisions[0].metrics["agreement"]["share"] >= 0.9
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0}
    assert answered["failed"] == 0


def test_shadow_on_an_endpoint_without_data_capture_says_how_to_turn_it_on(sagemaker):
    cloudeploy.deploy(models.serving(), "no-capture", model_name="forest", provider=sagemaker)
    with pytest.raises(ShadowUnavailable) as caught:
        run_shadow(sagemaker, "no-capture", "v2", plan())
    assert "cloudeploy monitor configure no-capture --provider sagemaker" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_emulation_takes_one_production_and_one_shadow_variant_as_the_service_does(
        sagemaker, sagemaker_emulator_session):
    from botocore.exceptions import ClientError

    sm = sagemaker_emulator_session.client("sagemaker")

    def variant(name, model):
        return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}

    with pytest.raises(ClientError, match="only specify one variant for ProductionVariants"):
        sm.create_endpoint_config(EndpointConfigName="two-production",
                                  ProductionVariants=[variant("a", "forest-v1"), variant("b", "forest-v2")],
                                  ShadowProductionVariants=[variant("c", "forest-v3")])
    sm.create_endpoint_config(EndpointConfigName="one-and-one", ProductionVariants=[variant("a", "forest-v1")],
                              ShadowProductionVariants=[variant("c", "forest-v3")])
    described = sm.describe_endpoint_config(EndpointConfigName="one-and-one")
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == ["c"]
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["a"]
