"""Fault injection in the SageMaker emulation, seen through plain boto3 over HTTP.

Clients here make exactly one attempt, so each call the test makes is one call
the emulation receives and any fault is seen as the service would answer it.
"""

from __future__ import annotations

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudeploy.errors import ValidationError
from cloudeploy.testing.sagemaker.faults import FaultPlan, parse_rule
from tests.sagemaker.conftest import settle

ONE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def sm1(emu, settings):
    return emu.client("sagemaker", config=ONE_ATTEMPT)


def error_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def outcomes(call, times: int) -> list[str]:
    """ "ok" or the error code of each of ``times`` calls."""
    seen = []
    for _ in range(times):
        try:
            call()
            seen.append("ok")
        except ClientError as error:
            seen.append(error.response["Error"]["Code"])
    return seen


# -- what each kind answers ---------------------------------------------------------


def test_throttle_answers_400_throttling_exception(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle")
    assert error_of(sm1.list_endpoints) == ("ThrottlingException", 400)


def test_transient_answers_503_service_unavailable_by_default(emu, sm1):
    emu.faults.add("ListEndpoints", "transient")
    assert error_of(sm1.list_endpoints) == ("ServiceUnavailable", 503)


def test_transient_with_status_500_answers_internal_failure(emu, sm1):
    emu.faults.add("ListEndpoints", "transient", status=500)
    assert error_of(sm1.list_endpoints) == ("InternalFailure", 500)


def test_latency_delays_the_answer_which_still_succeeds(emu, sm1):
    emu.faults.add("ListEndpoints", "latency", seconds=0.3)
    started = time.monotonic()
    assert sm1.list_endpoints()["Endpoints"] == []
    assert time.monotonic() - started >= 0.3


def test_a_throttled_create_has_no_effect(emu, sm1, put_model):
    put_model("m1")
    emu.faults.add("CreateEndpointConfig", "throttle", count=1)
    variants = [{"VariantName": "v1", "ModelName": "m1", "InitialInstanceCount": 1}]
    error_of(
        lambda: sm1.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=variants)
    )
    assert sm1.list_endpoint_configs()["EndpointConfigs"] == []


def test_fail_on_create_endpoint_ends_failed_with_the_reason(emu, sm, put_model, put_config):
    put_model("m1")
    put_config("c1", {"v1": ("m1", 1.0)})
    emu.faults.add("CreateEndpoint", "fail", reason="InsufficientCapacity in the zone")
    sm.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    described = settle(sm, "e1")
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == "InsufficientCapacity in the zone"


def test_fail_on_update_endpoint_ends_failed(emu, sm, put_model, put_config, in_service):
    put_model("m1")
    put_model("m2", seed=1)
    put_config("c1", {"v1": ("m1", 1.0)})
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    in_service("e1")
    emu.faults.add("UpdateEndpoint", "fail", reason="health check failed")
    sm.update_endpoint(EndpointName="e1", EndpointConfigName="c2")
    described = settle(sm, "e1")
    assert (described["EndpointStatus"], described["FailureReason"]) == (
        "Failed",
        "health check failed",
    )


def test_silent_rollback_ends_in_service_on_the_old_config_without_reason(
    emu, sm, put_model, put_config, in_service
):
    put_model("m1")
    put_model("m2", seed=1)
    put_config("c1", {"v1": ("m1", 1.0)})
    put_config("c2", {"v2": ("m2", 1.0)})
    sm.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    in_service("e1")
    emu.faults.add("UpdateEndpoint", "silent_rollback")
    sm.update_endpoint(EndpointName="e1", EndpointConfigName="c2")
    described = settle(sm, "e1")
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "c1"
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["v1"]
    assert "FailureReason" not in described


def test_faults_reach_the_runtime_invoke_endpoint(emu, settings):
    runtime = emu.client("sagemaker-runtime", config=ONE_ATTEMPT)
    emu.faults.add("InvokeEndpoint", "throttle")
    call = lambda: runtime.invoke_endpoint(EndpointName="e1", Body=b"[]")  # noqa: E731
    assert error_of(call) == ("ThrottlingException", 400)


# -- which calls a rule hits -----------------------------------------------------------


def test_count_limits_a_rule_to_the_first_n_calls(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle", count=2)
    assert outcomes(sm1.list_endpoints, 4) == ["ThrottlingException"] * 2 + ["ok"] * 2


def test_a_rule_for_one_operation_leaves_others_alone(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle")
    assert sm1.list_models()["Models"] == []


def test_star_matches_every_operation(emu, sm1):
    emu.faults.add("*", "transient")
    assert error_of(sm1.list_models)[0] == "ServiceUnavailable"
    assert error_of(sm1.list_endpoints)[0] == "ServiceUnavailable"


def test_a_seeded_probability_fires_on_the_same_calls_every_run():
    def pattern() -> list[bool]:
        plan = FaultPlan()
        plan.add("ListEndpoints", "throttle", probability=0.5, seed=7)
        return [plan.receive("ListEndpoints", before=True) is not None for _ in range(40)]

    first = pattern()
    assert first == pattern()
    assert 5 < sum(first) < 35  # some calls hit, some not


def test_clear_removes_the_rules(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle")
    emu.faults.clear()
    assert sm1.list_endpoints()["Endpoints"] == []


def test_reset_clears_rules_and_call_counts(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle")
    error_of(sm1.list_endpoints)
    emu.reset()
    assert (emu.faults.rules, emu.calls()) == ([], {})


# -- counting -------------------------------------------------------------------------


def test_every_call_is_counted_per_operation_faulted_or_not(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle", count=1)
    outcomes(sm1.list_endpoints, 3)
    sm1.list_models()
    assert emu.calls("ListEndpoints") == 3
    assert emu.calls("ListModels") == 1
    assert emu.calls("CreateEndpoint") == 0


def test_retries_of_a_boto3_client_are_counted_as_calls(emu, settings):
    sm = emu.client(
        "sagemaker", config=Config(retries={"mode": "standard", "total_max_attempts": 3})
    )
    emu.faults.add("ListEndpoints", "throttle", count=1)
    sm.list_endpoints()
    assert emu.calls("ListEndpoints") == 2


# -- writing rules ----------------------------------------------------------------------


def test_parse_rule_reads_operation_kind_and_options():
    rule = parse_rule("UpdateEndpoint:transient:count=2,status=500")
    assert (rule.operation, rule.kind, rule.count, rule.status) == (
        "UpdateEndpoint",
        "transient",
        2,
        500,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("UpdateEndpoint", "OPERATION:KIND"),
        ("UpdateEndpoint:explode", "explode"),
        ("UpdateEndpoint:throttle:count=two", "count"),
        ("UpdateEndpoint:throttle:times=2", "times"),
        ("UpdateEndpoint:throttle:probability=1.5", "probability"),
        ("UpdateEndpoint:transient:status=418", "418"),
        ("ListModels:silent_rollback", "UpdateEndpoint"),
    ],
)
def test_a_bad_rule_is_a_validation_error_naming_the_bad_part(text, named):
    with pytest.raises(ValidationError, match=named):
        parse_rule(text)


def test_skip_lets_the_first_calls_through_then_fires(emu, sm1):
    emu.faults.add("ListEndpoints", "throttle", skip=1, count=1)
    assert outcomes(sm1.list_endpoints, 3) == ["ok", "ThrottlingException", "ok"]


# -- over HTTP -----------------------------------------------------------------------------


def test_a_bad_fault_over_http_is_a_400_naming_it(emu):
    import httpx

    answer = httpx.post(
        emu.endpoint_url + "/moto-api/cloudeploy/faults", json={"faults": ["X:boom"]}
    )
    assert answer.status_code == 400
    assert "boom" in answer.json()["error"]
    assert emu.faults.rules == []


def test_http_get_reports_rules_and_calls(emu, sm1):
    import httpx

    emu.faults.add("ListEndpoints", "latency", seconds=0)
    sm1.list_endpoints()
    state = httpx.get(emu.endpoint_url + "/moto-api/cloudeploy/faults").json()
    assert [(r["operation"], r["fired"]) for r in state["rules"]] == [("ListEndpoints", 1)]
    assert state["calls"] == {"ListEndpoints": 1}


def test_a_web_page_cannot_drive_the_emulation(emu, sm):
    """A foreign Host (DNS rebinding), a cross-origin write or a non-JSON fault plan is refused; boto3 is not."""
    import httpx

    url = emu.endpoint_url + "/moto-api/cloudeploy/faults"
    rule = '{"faults": ["CreateEndpoint:throttle:count=1"]}'
    rebound = httpx.post(url, content=rule, headers={"host": "evil.example", "content-type": "text/plain"})
    cross_site = httpx.post(url, content=rule, headers={"origin": "https://evil.example",
                                                         "content-type": "application/json"})
    plain_text = httpx.post(url, content=rule, headers={"content-type": "text/plain"})
    form = httpx.post(emu.endpoint_url + "/", data={"Action": "DeleteEndpoint", "EndpointName": "x"},
                      headers={"origin": "https://evil.example"})

    assert [rebound.status_code, cross_site.status_code, plain_text.status_code, form.status_code] == [
        403, 403, 415, 403
    ]
    assert emu.faults.rules == []
    assert sm.list_endpoints()["Endpoints"] == []  # the SDK still gets through
