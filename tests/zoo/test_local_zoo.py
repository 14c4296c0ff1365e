"""The failure zoo on the local provider: every broken candidate is stopped before 100%,
the split goes back, and the version that was serving never fails a request meanwhile.

Each case: deploy the candidate with no traffic, start a stream of single-row
requests from 4 threads (at least 2,000 through the whole rollout), run
``cloudeploy promote`` with the zoo's plan, and check exit 3, the split, the
decision log and the stream.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.testing import zoo
from tests.zoo.stream import RequestStream, failures_outside

ZOO_FLAGS = [
    "--steps", ",".join(str(s) for s in zoo.ZOO_PLAN["steps"]),
    "--bake", f"{zoo.ZOO_PLAN['bake_s']:g}s",
    "--min-requests", str(zoo.ZOO_PLAN["min_requests"]),
    "--max-wait", f"{zoo.ZOO_PLAN['max_wait_s']:g}s",
    "--max-error-rate", str(zoo.ZOO_PLAN["max_error_rate"]),
    "--max-p50-ratio", str(zoo.ZOO_PLAN["max_p50_ratio"]),
    "--max-prediction-shift", str(zoo.ZOO_PLAN["max_prediction_shift"]),
    "--no-live", "--output", "json",
]

ROLLED_OUT_CASES = [c for c in zoo.CASES if c.caught_by != "deploy"]


def promote_under_stream(endpoint, version: str) -> tuple[int, dict, list]:
    stream = RequestStream(endpoint.url).start()
    try:
        result = CliRunner().invoke(cli, ["promote", endpoint.name, "--to", version, *ZOO_FLAGS], env=endpoint.env())
    finally:
        answers = stream.finish()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout), answers


@pytest.fixture
def endpoint_of(request):
    """``endpoint_of(case)``: the endpoint serving the baseline ``case`` replaces (reset after the test)."""

    def get(case):
        return request.getfixturevalue("regressor_endpoint" if case.kind == "regressor" else "classifier_endpoint")

    return get


@pytest.mark.parametrize("case", ROLLED_OUT_CASES, ids=[c.name for c in ROLLED_OUT_CASES])
def test_a_broken_candidate_is_rolled_back_before_100_and_the_serving_version_never_fails(case, endpoint_of):
    endpoint = endpoint_of(case)
    version = endpoint.deploy(case.build(), trust=case.trust, allow_schema_change=case.name == "other_features")

    exit_code, report, answers = promote_under_stream(endpoint, version)

    assert exit_code == 3, report["reason"]
    assert report["outcome"] == "rolled_back"
    assert report["traffic"] == {"v1": 100, version: 0}
    assert max(d["percent"] for d in report["decisions"] if d["action"] == "step") < 100
    assert f"{case.caught_by} broke" in report["reason"]
    broken = next(g for g in report["decisions"][-1]["gates"] if g["gate"] == case.caught_by)
    assert broken["passed"] is False
    assert len(answers) >= 2000
    assert failures_outside(answers, version) == []


def test_a_healthy_candidate_is_still_promoted(classifier_endpoint):
    version = classifier_endpoint.deploy(zoo.healthy_candidate())
    exit_code, report, answers = promote_under_stream(classifier_endpoint, version)
    assert exit_code == 0, report["reason"]
    assert report["traffic"] == {"v1": 0, version: 100}
    judged = [d for d in report["decisions"] if d["action"] == "proceed"]
    assert [d["percent"] for d in judged] == [20, 50]
    shift = next(g for g in judged[0]["gates"] if g["gate"] == "prediction_shift")
    assert shift["passed"] is True and shift["value"] <= zoo.ZOO_PLAN["max_prediction_shift"]
    assert [a for a in answers if a.status != 200] == []


def test_a_healthy_regressor_is_still_promoted(regressor_endpoint):
    version = regressor_endpoint.deploy(zoo.healthy_regressor())
    exit_code, report, answers = promote_under_stream(regressor_endpoint, version)
    assert exit_code == 0, report["reason"]
    assert report["traffic"] == {"v1": 0, version: 100}
    assert [a for a in answers if a.status != 200] == []


def test_a_candidate_that_cannot_be_loaded_is_refused_before_any_traffic_moves(classifier_endpoint):
    # On the local provider a version is deployed only once its replicas loaded
    # the model, so this one never reaches the rollout: the deploy fails, the
    # split never changes, and promoting it is refused.
    from cloudeploy.errors import OperationFailed

    case = zoo.case("cannot_be_loaded")
    stream = RequestStream(classifier_endpoint.url, min_requests=500).start()
    try:
        with pytest.raises(OperationFailed, match="cannot be loaded"):
            classifier_endpoint.deploy(case.build(), trust=True)
        versions = classifier_endpoint.provider.list_versions(classifier_endpoint.name)
        refused = CliRunner().invoke(cli, ["promote", classifier_endpoint.name, "--to", versions[-1].version,
                                           *ZOO_FLAGS], env=classifier_endpoint.env())
    finally:
        answers = stream.finish()
    assert refused.exit_code not in (0, 3)
    assert "not deployed" in refused.output
    assert classifier_endpoint.provider.get_endpoint(classifier_endpoint.name).traffic.to_dict() == {"v1": 100}
    assert [a for a in answers if a.status != 200] == []
