"""Fault injection and call counting for the Vertex AI emulator.

::

    emu.faults.add("DeployModel", "throttle", count=2)      # the next 2 calls get a 429
    emu.faults.add("*", "latency", seconds=0.2)             # every call 200 ms slower
    emu.faults.add("DeployModel", "fail", reason="no capacity")
    emu.faults.add("DeployModel", "hold", seconds=3)        # deploying for 3 s, polled or not
    emu.calls("DeployModel")                                 # how many the emulator received

Rules are keyed by the REST method name as Vertex AI names it (``UploadModel``,
``CreateEndpoint``, ``DeployModel``, ``UndeployModel``, ``MutateDeployedModel``,
``UpdateEndpoint``, ``GetEndpoint``, ``GetOperation``, ``Predict``,
``CreateBatchPredictionJob``, ...: see :func:`method_name`) or ``*``. Kinds, as
the service answers them:

- ``throttle``: HTTP 429 ``{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}``;
  the call has no effect.
- ``transient``: HTTP ``status`` (503 ``UNAVAILABLE`` by default, 500 ``INTERNAL``,
  502, 504 ``DEADLINE_EXCEEDED``); no effect.
- ``latency``: the call is answered ``seconds`` later, normally.
- ``fail``: a call answered with a long-running operation (:data:`FAILABLE`) is
  accepted, and its operation ends ``done: true`` with ``error {code: 9,
  message: reason}``; the request is not carried out, so nothing is created or
  changed.
- ``hold``: a call answered with a long-running operation (:data:`FAILABLE`) is
  carried out, but its operation stays ``done: false`` for ``seconds`` however
  often it, or the resource it changes, is read, and its effect does not show
  until then (a deployed model is not listed and gets no traffic, as on Vertex AI
  while it deploys); the first poll after that finishes it as usual. This is how
  a test finds an operation a killed run left running.

Which calls a rule fires on (``count``, ``skip``, ``probability`` + ``seed``),
the ``OPERATION:KIND[:key=value,...]`` syntax, the plan and its HTTP view are
shared with the SageMaker emulation (:mod:`cloudeploy.testing.faults`); only the
kinds, the methods ``fail`` and ``hold`` apply to, the error shapes and how a
fault is applied are Vertex AI's (``hold`` reads the common ``seconds`` option).
Each emulator has its own plan (``emu.faults``); ``emu.reset()`` clears rules and
counts. An emulator in another process is driven over HTTP at
``<api_endpoint>/cloudeploy/faults``: ``GET`` -> ``{"rules": [...], "calls": {...}}``;
``POST {"faults": ["OP:KIND...", ...]}`` adds rules (all or none); ``DELETE``
removes them (``?calls=1`` also forgets the counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cloudeploy.testing import faults as common
from cloudeploy.testing.vertex import operations
from cloudeploy.testing.vertex._wire import ApiError

KINDS = ("throttle", "transient", "latency", "fail", "hold")
#: Methods answered with a long-running operation (the ones ``fail`` and ``hold``
#: apply to), and the metadata type it carries.
FAILABLE = {
    "UploadModel": "UploadModelOperationMetadata",
    "CreateEndpoint": "CreateEndpointOperationMetadata",
    "DeployModel": "DeployModelOperationMetadata",
    "UndeployModel": "UndeployModelOperationMetadata",
    "MutateDeployedModel": "MutateDeployedModelOperationMetadata",
    "DeleteEndpoint": "DeleteOperationMetadata",
    "DeleteModel": "DeleteOperationMetadata",
    "DeleteModelVersion": "DeleteOperationMetadata",
}
#: Handler names whose Vertex AI method name is not their CamelCase.
_RENAMED = {"predict_deployed_model": "Predict", "raw_predict_endpoint": "RawPredict"}
HTTP_PATH = "/cloudeploy/faults"
#: The common view, answering for the plan it is given.
http_view = common.http_view


def method_name(handler: Callable[..., Any]) -> str:
    """The Vertex AI REST method an emulator handler serves: ``deploy_model`` -> ``DeployModel``."""
    name = handler.__name__
    if name in _RENAMED:
        return _RENAMED[name]
    name = name.replace("batch_job", "batch_prediction_job").replace(
        "monitoring_job", "model_deployment_monitoring_job"
    )
    return "".join(part.title() for part in name.split("_"))


class VertexFaultRule(common.FaultRule):
    """One rule; see the module docstring for what each kind does."""

    KINDS = KINDS
    AFTER = {"fail": tuple(FAILABLE), "hold": tuple(FAILABLE)}
    TRANSIENT = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
    EXAMPLE = "DeployModel:throttle:count=2"


class FaultPlan(common.FaultPlan[VertexFaultRule]):
    """The rules in force and the calls received, per method (thread-safe)."""

    rule_class = VertexFaultRule


def parse_rule(text: str) -> VertexFaultRule:
    """``"DeployModel:throttle:count=2"`` -> VertexFaultRule; ValidationError naming the bad part."""
    return common.parse_rule(text, VertexFaultRule)


def intercept(plan: FaultPlan, method: str, backend: Any, name: str) -> tuple[int, Any] | None:
    """Count one call of ``method`` on resource ``name`` and apply the rule that fires on it.

    Returns the answer to send instead of calling the handler (an error, or an
    operation that will fail), or None to call it (after any added latency; a
    ``hold`` applies to the operation the handler then starts).
    """
    rule = plan.receive(method, before=True)
    if rule is not None and rule.kind == "throttle":
        error = ApiError("RESOURCE_EXHAUSTED", f"Quota exceeded for {method}; retry later.")
        return error.http_status, error.body()
    if rule is not None and rule.kind == "transient":
        error = ApiError(rule.TRANSIENT[rule.status], "Injected transient failure; retry.")
        return rule.status, error.body()
    if rule is not None and rule.kind == "latency":
        time.sleep(rule.seconds)
    if method in FAILABLE:
        after = plan.receive(method, before=False)
        if after is not None and after.kind == "fail":
            return 200, _failed_operation(backend, name, FAILABLE[method], after.reason)
        if after is not None and after.kind == "hold":
            operations.hold_next(after.seconds)
    return None


def _failed_operation(backend: Any, name: str, metadata_type: str, reason: str) -> dict[str, Any]:
    """Register an operation on ``name`` (or the location, for a collection) that ends in error."""
    relative = name[len(backend.parent) :].strip("/").split("/")
    target = name if len(relative) == 2 else backend.parent

    def fail() -> None:
        raise ApiError("FAILED_PRECONDITION", reason)

    with backend.lock:
        return backend.operations.start(target, metadata_type, fail).to_json()
