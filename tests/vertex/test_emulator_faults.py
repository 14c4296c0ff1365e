"""Fault injection in the Vertex AI emulator, seen over its REST API.

Rules are keyed by the REST method name; throttle and transient answer with
Google's error body and change nothing; fail makes the call's long-running
operation end in error with nothing created; hold keeps it running for a while;
every call is counted.
"""

from __future__ import annotations

import time

import httpx
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.testing.vertex.faults import HTTP_PATH, method_name, parse_rule


@pytest.fixture
def api(vertex_emulator):
    """An httpx client on ``/v1/projects/P/locations/L`` of the emulator."""
    parent = f"projects/{vertex_emulator.project}/locations/{vertex_emulator.region}"
    with httpx.Client(base_url=f"{vertex_emulator.api_endpoint}/v1/{parent}") as client:
        yield client


def create_endpoint(api, endpoint_id: str) -> httpx.Response:
    return api.post("/endpoints", params={"endpointId": endpoint_id}, json={"displayName": "e"})


def finish(api, operation: dict) -> dict:
    """GET the operation (the poll that drives it) and return it."""
    name = operation["name"].split("/locations/", 1)[1].split("/", 1)[1]
    return api.get(f"/{name}").json()


def test_throttle_answers_429_resource_exhausted_and_changes_nothing(vertex_emulator, api):
    vertex_emulator.faults.add("CreateEndpoint", "throttle", count=1)
    reply = create_endpoint(api, "house")
    assert reply.status_code == 429
    assert reply.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert reply.json()["error"]["code"] == 429
    assert api.get("/endpoints").json() == {}


def test_transient_answers_503_unavailable_by_default(vertex_emulator, api):
    vertex_emulator.faults.add("ListEndpoints", "transient", count=1)
    reply = api.get("/endpoints")
    assert (reply.status_code, reply.json()["error"]["status"]) == (503, "UNAVAILABLE")


def test_transient_status_500_answers_internal(vertex_emulator, api):
    vertex_emulator.faults.add("ListEndpoints", "transient", status=500, count=1)
    reply = api.get("/endpoints")
    assert (reply.status_code, reply.json()["error"]["status"]) == (500, "INTERNAL")


def test_a_rule_with_count_fires_that_many_times_then_lets_calls_through(vertex_emulator, api):
    vertex_emulator.faults.add("ListEndpoints", "throttle", count=2)
    codes = [api.get("/endpoints").status_code for _ in range(3)]
    assert codes == [429, 429, 200]


def test_every_call_is_counted_per_method_faulted_or_not(vertex_emulator, api):
    vertex_emulator.faults.add("ListEndpoints", "throttle", count=1)
    api.get("/endpoints")
    api.get("/endpoints")
    api.get("/endpoints/missing")
    assert vertex_emulator.calls("ListEndpoints") == 2
    assert vertex_emulator.calls("GetEndpoint") == 1
    assert vertex_emulator.calls() == {"ListEndpoints": 2, "GetEndpoint": 1}


def test_fail_ends_the_operation_with_the_reason_and_creates_nothing(vertex_emulator, api):
    vertex_emulator.faults.add("CreateEndpoint", "fail", reason="no capacity in us-central1")
    operation = create_endpoint(api, "house").json()
    done = finish(api, operation)
    assert done["done"] is True
    assert done["error"] == {"code": 9, "message": "no capacity in us-central1"}
    assert api.get("/endpoints/house").status_code == 404


def test_fail_on_deploy_model_leaves_the_endpoint_as_it_was(vertex_emulator, api):
    finish(api, create_endpoint(api, "house").json())
    vertex_emulator.faults.add("DeployModel", "fail", reason="quota")
    operation = api.post(
        "/endpoints/house:deployModel", json={"deployedModel": {"model": "models/m"}}
    ).json()
    assert finish(api, operation)["error"]["message"] == "quota"
    assert "deployedModels" not in api.get("/endpoints/house").json()


def test_hold_keeps_the_operation_running_and_its_effect_hidden_until_the_seconds_pass(
    vertex_emulator, api
):
    vertex_emulator.faults.add_rule("CreateEndpoint:hold:seconds=1")
    accepted = time.monotonic()
    operation = create_endpoint(api, "house").json()
    while_held = [
        finish(api, operation)["done"],
        api.get("/endpoints/house").status_code,
        finish(api, operation)["done"],
    ]
    assert time.monotonic() - accepted < 1, "too slow to read the operation while held"
    assert while_held == [False, 404, False]
    deadline = accepted + 10
    while not finish(api, operation)["done"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert time.monotonic() - accepted >= 1
    assert api.get("/endpoints/house").status_code == 200


def test_hold_applies_only_to_methods_answered_with_an_operation(vertex_emulator):
    with pytest.raises(ValidationError, match="GetEndpoint"):
        vertex_emulator.faults.add("GetEndpoint", "hold", seconds=1)


def test_fail_applies_only_to_methods_answered_with_an_operation(vertex_emulator):
    with pytest.raises(ValidationError, match="GetEndpoint"):
        vertex_emulator.faults.add("GetEndpoint", "fail")


def test_an_unknown_kind_is_refused_naming_the_kinds(vertex_emulator):
    with pytest.raises(ValidationError, match="silent_rollback"):
        vertex_emulator.faults.add("UpdateEndpoint", "silent_rollback")


def test_latency_delays_the_answer(vertex_emulator, api):
    vertex_emulator.faults.add("ListEndpoints", "latency", seconds=0.3, count=1)
    assert api.get("/endpoints").elapsed.total_seconds() >= 0.3


def test_a_seeded_probability_fires_on_the_same_calls_every_run(vertex_emulator, api):
    runs = []
    for _ in range(2):
        vertex_emulator.faults.reset()
        vertex_emulator.faults.add("ListEndpoints", "throttle", probability=0.5, seed=7)
        runs.append([api.get("/endpoints").status_code for _ in range(8)])
    assert runs[0] == runs[1]
    assert {429, 200} == set(runs[0])


def test_rule_text_is_parsed_with_its_options():
    rule = parse_rule("DeployModel:transient:status=500,count=2,skip=1")
    assert (rule.operation, rule.kind, rule.status, rule.count, rule.skip) == (
        "DeployModel", "transient", 500, 2, 1,
    )  # fmt: skip


def test_a_bad_option_in_rule_text_is_an_error_quoting_the_text():
    with pytest.raises(ValidationError, match=r"'nope=1' in 'DeployModel:throttle:nope=1'"):
        parse_rule("DeployModel:throttle:nope=1")


@pytest.mark.parametrize(
    "handler, method",
    [
        ("deploy_model", "DeployModel"),
        ("create_batch_job", "CreateBatchPredictionJob"),
        ("get_monitoring_job", "GetModelDeploymentMonitoringJob"),
        ("predict_deployed_model", "Predict"),
    ],
)
def test_handlers_are_named_after_their_vertex_rest_method(handler, method):
    from cloudeploy.testing.vertex import app

    assert method_name(getattr(app, handler)) == method


def test_faults_are_added_listed_and_removed_over_http(vertex_emulator, api):
    url = vertex_emulator.api_endpoint + HTTP_PATH
    added = httpx.post(url, json={"faults": ["ListEndpoints:throttle:count=1"]})
    assert added.json()["rules"][0]["operation"] == "ListEndpoints"
    assert api.get("/endpoints").status_code == 429
    assert httpx.get(url).json()["calls"] == {"ListEndpoints": 1}
    assert httpx.delete(url, params={"calls": 1}).json() == {"rules": [], "calls": {}}


def test_a_bad_fault_over_http_is_a_400_and_adds_none(vertex_emulator):
    url = vertex_emulator.api_endpoint + HTTP_PATH
    reply = httpx.post(url, json={"faults": ["ListEndpoints:throttle", "GetEndpoint:fail"]})
    assert reply.status_code == 400
    assert "GetEndpoint" in reply.json()["error"]
    assert vertex_emulator.faults.rules == []


def test_a_web_page_cannot_install_a_fault(vertex_emulator):
    """DNS rebinding (a foreign Host) and cross-site simple requests are refused; nothing is installed."""
    url = vertex_emulator.api_endpoint + HTTP_PATH
    rule = '{"faults": ["ListEndpoints:throttle:count=1"]}'
    rebound = httpx.post(url, content=rule, headers={"host": "evil.example", "content-type": "text/plain"})
    cross_site = httpx.post(url, content=rule, headers={"origin": "https://evil.example",
                                                         "content-type": "text/plain"})
    plain_text = httpx.post(url, content=rule, headers={"content-type": "text/plain"})

    assert rebound.status_code == 403 and "not allowed" in rebound.json()["error"]["message"]
    assert cross_site.status_code == 403
    assert plain_text.status_code == 415
    assert vertex_emulator.faults.rules == []
    assert httpx.get(url, headers={"host": "evil.example"}).status_code == 403
