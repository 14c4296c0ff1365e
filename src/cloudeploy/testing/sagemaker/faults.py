"""Fault injection and call counting for the SageMaker emulation.

::

    emu.faults.add("UpdateEndpoint", "throttle", count=2)   # the next 2 calls are throttled
    emu.faults.add("*", "latency", seconds=0.2)             # every call 200 ms slower
    emu.faults.add("CreateEndpoint", "fail", reason="no capacity")
    emu.faults.add("UpdateEndpoint", "silent_rollback")
    emu.calls("UpdateEndpoint")                              # how many the emulation received

Kinds, as the service answers them:

- ``throttle``: HTTP 400 ``ThrottlingException`` ("Rate exceeded"); the call has no effect.
- ``transient``: HTTP ``status`` (503 default ``ServiceUnavailable``, 500 ``InternalFailure``);
  no effect.
- ``latency``: the call is answered ``seconds`` later, normally.
- ``fail``: the call succeeds, then the endpoint it created or updated ends ``Failed``
  with ``FailureReason`` = ``reason`` (CreateEndpoint, UpdateEndpoint).
- ``silent_rollback``: the UpdateEndpoint succeeds, then the endpoint ends ``InService``
  on its *old* config with no ``FailureReason``.

Rules are keyed by the operation name (``*``: every call). Which calls a rule
fires on (``count``, ``skip``, ``probability`` + ``seed``), the plan, the text
form and the HTTP view are shared with the Vertex AI emulator
(:mod:`cloudeploy.testing.faults`); this module holds the kinds, what they
answer and how they change the endpoint.

The plan is process-global like moto's backends; ``SageMakerEmulation.reset``
clears rules and counts. Rules are also written ``OPERATION:KIND[:key=value,...]``
(``parse_rule``) for ``cloudeploy emulator sagemaker --fault``, and an emulator in
another process is driven over HTTP at ``<endpoint_url>/moto-api/cloudeploy/faults``:
``GET`` -> ``{"rules": [...], "calls": {...}}``; ``POST {"faults": ["OP:KIND...", ...]}``
adds rules; ``DELETE`` removes them (``?calls=1`` also forgets the counts).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloudeploy.testing import faults as common

KINDS = ("throttle", "transient", "latency", "fail", "silent_rollback")


class FaultRule(common.FaultRule):
    """One rule; see the module docstring for what each kind does."""

    KINDS = KINDS
    AFTER = {"fail": ("CreateEndpoint", "UpdateEndpoint"), "silent_rollback": ("UpdateEndpoint",)}
    TRANSIENT = {
        500: "InternalFailure",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }
    EXAMPLE = "UpdateEndpoint:throttle:count=2"


class FaultPlan(common.FaultPlan[FaultRule]):
    """The rules in force and the calls received, per operation (thread-safe)."""

    rule_class = FaultRule


def parse_rule(text: str) -> FaultRule:
    """``"UpdateEndpoint:throttle:count=2"`` -> FaultRule; ValidationError naming the bad part.

    Options: ``count``, ``skip``, ``probability``, ``seed``, ``seconds``, ``status``, ``reason``.
    """
    return common.parse_rule(text, FaultRule)


PLAN = FaultPlan()


def _error(code: str, message: str, status: int) -> tuple[int, dict[str, str], str]:
    # The JSON protocols' error shape: botocore reads the code from __type.
    body = json.dumps({"__type": code, "message": message})
    return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body


def wrap_call_action(original):
    """A ``call_action`` for a moto response class that counts calls and applies PLAN."""

    def call_action(self):
        operation = self._get_action() or ""
        rule = PLAN.receive(operation, before=True)
        if rule is not None and rule.kind == "throttle":
            return _error("ThrottlingException", "Rate exceeded", 400)
        if rule is not None and rule.kind == "transient":
            return _error(
                rule.TRANSIENT[rule.status], "Injected transient failure; retry.", rule.status
            )
        if rule is not None and rule.kind == "latency":
            time.sleep(rule.seconds)
        response = original(self)
        if 200 <= int(response[0]) < 300:
            after = PLAN.receive(operation, before=False)
            if after is not None:
                _sabotage(self, after)
            if operation in STARTS_OPERATION:
                _release(self)
        return response

    return call_action


#: Calls that start an endpoint operation; it runs once the call was answered
#: (and its fault applied), so a fault always shapes the whole operation.
STARTS_OPERATION = ("CreateEndpoint", "UpdateEndpoint", "UpdateEndpointWeightsAndCapacities")


def _endpoint(response):
    from cloudeploy.testing.sagemaker.state import STATE

    name = response._get_param("EndpointName")
    with STATE.lock:
        return STATE.endpoints.get((response.current_account, response.region, name))


def _sabotage(response, rule: FaultRule) -> None:
    runtime = _endpoint(response)
    if runtime is not None:
        runtime.sabotage(rule.kind, rule.reason)


def _release(response) -> None:
    runtime = _endpoint(response)
    if runtime is not None:
        runtime.release()


HTTP_PATH = "/moto-api/cloudeploy/faults"


def http_handler(request, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """The HTTP view of PLAN (see the module docstring); bad input is a 400 naming it."""
    status, body = common.http_view(PLAN, request.method, request.get_data(), request.args)
    return status, {"Content-Type": "application/json"}, json.dumps(body)
