"""Shadow traffic on Vertex AI, against the emulator: replaying the request-response log.

One endpoint serves the module: v1 serving 100% with request-response logging
on (every call), v2 (agreeing) and v3 (disagreeing) deployed at 0%. The shadow
run replays v1's logged calls against the candidate pinned by its deployed-model
id and compares the answers with the logged ones; clients only ever get v1.
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


def plan() -> RolloutPlan:
    return RolloutPlan(shadow={"duration": "3s"}, steps=(100,), bake_s=1, min_requests=30, max_wait_s=60)


def enable_logging(provider, endpoint: str) -> None:
    from google.cloud.aiplatform_v1 import types
    from google.protobuf import field_mask_pb2

    resource = types.Endpoint(
        name=provider._endpoint_name(endpoint),
        predict_request_response_logging_config=types.PredictRequestResponseLoggingConfig(
            enabled=True, sampling_rate=1.0, bigquery_destination=types.BigQueryDestination(output_uri="")),
    )
    provider.clients.endpoints.update_endpoint(
        endpoint=resource, update_mask=field_mask_pb2.FieldMask(paths=["predict_request_response_logging_config"]))


@pytest.fixture(scope="module")
def vertex(vertex_emulator_session):
    from cloudeploy.providers.vertex import VertexProvider

    emulator = vertex_emulator_session
    emulator.reset()
    provider = VertexProvider(Profile(name="emulator", provider="vertex",
                                      settings=emulator.profile_settings(bucket="shadow")))
    for number, model in enumerate((models.serving(), models.agreeing(), models.disagreeing())):
        cloudeploy.deploy(model, ENDPOINT, model_name="forest", provider=provider,
                          traffic=None if number == 0 else 0)
    enable_logging(provider, ENDPOINT)
    yield provider
    emulator.reset()


@pytest.fixture
def provider(vertex, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))  # a fresh rollout state store per test
    vertex.set_traffic(ENDPOINT, TrafficSplit({"v1": 100}))
    return vertex


def test_a_disagreeing_candidate_is_refused_on_replayed_calls_and_clients_only_see_v1(provider):
    with predictions(provider, ENDPOINT) as answered:
        result = run_shadow(provider, ENDPOINT, "v3", plan())
    assert not result.passed
    assert {g.gate: g.passed for g in result.gates}["agreement"] is False
    assert result.agreement.rows >= 30 and result.agreement.share < 0.75
    assert set(answered) == {"v1"}
    assert provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING


def test_promote_with_shadow_refuses_a_disagreeing_candidate_before_user_traffic(provider):
    with predictions(provider, ENDPOINT) as answered:
        result = run_promotion(provider, ENDPOINT, "v3", plan())
    assert result.rolled_back
    assert [d.action for d in result.decisions] == ["shadow"]
    assert result.traffic == STARTING
    assert set(answered) == {"v1"}


def test_promote_with_shadow_promotes_an_agreeing_candidate(provider):
    with predictions(provider, ENDPOINT, max_requests=6000) as answered:  # on through the steps
        result = run_promotion(provider, ENDPOINT, "v2", plan())
    assert result.promoted, result.reason
    assert result.decisions[0].action == "shadow"
    assert result.decisions[0].metrics["agreement"]["share"] >= 0.9
    assert result.traffic == {"v1": 0, "v2": 100, "v3": 0}
    assert answered["failed"] == 0


def test_shadow_on_an_endpoint_without_request_logging_says_how_to_turn_it_on(vertex):
    cloudeploy.deploy(models.serving(), "no-log", model_name="forest", provider=vertex)
    with pytest.raises(ShadowUnavailable) as caught:
        run_shadow(vertex, "no-log", "v2", plan())
    assert "cloudeploy monitor configure no-log --provider vertex" in str(caught.value)
    assert "\n" not in str(caught.value)
