"""Fault injection and call counting for the Vertex AI emulator.

::

    emu.faults.add("DeployModel", "throttle", count=2)      # the next 2 calls get a 429
    emu.faults.add("*", "latency", seconds=0.2)             # every call 200 ms slower
    emu.faults.add("DeployModel", "fail", reason="no capacity")
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

The rule options (``count``, ``skip``, ``probability`` + ``seed``), the
``OPERATION:KIND[:key=value,...]`` syntax and the plan itself are SageMaker's
(:mod:`cloudeploy.testing.sagemaker.faults`); only the kinds, the methods
``fail`` applies to and the error shapes are Vertex AI's. Each emulator has its
own plan (``emu.faults``); ``emu.reset()`` clears rules and counts. An emulator
in another process is driven over HTTP at ``<api_endpoint>/cloudeploy/faults``:
``GET`` -> ``{"rules": [...], "calls": {...}}``; ``POST {"faults": ["OP:KIND...", ...]}``
adds rules (all or none); ``DELETE`` removes them (``?calls=1`` also forgets the counts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from cloudeploy.errors import ValidationError
from cloudeploy.testing.sagemaker import faults as shared
from cloudeploy.testing.vertex._wire import ApiError

KINDS = ("throttle", "transient", "latency", "fail")
#: Methods answered with a long-running operation, and the metadata type it carries.
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
_TRANSIENT = {500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
#: Handler names whose Vertex AI method name is not their CamelCase.
_RENAMED = {"predict_deployed_model": "Predict"}
HTTP_PATH = "/cloudeploy/faults"


def method_name(handler: Callable[..., Any]) -> str:
    """The Vertex AI REST method an emulator handler serves: ``deploy_model`` -> ``DeployModel``."""
    name = handler.__name__
    if name in _RENAMED:
        return _RENAMED[name]
    name = name.replace("batch_job", "batch_prediction_job").replace(
        "monitoring_job", "model_deployment_monitoring_job"
    )
    return "".join(part.title() for part in name.split("_"))


@dataclass
class VertexFaultRule(shared.FaultRule):
    """One rule; see the module docstring for what each kind does."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(
                f"unknown fault kind {self.kind!r} for {self.operation}",
                hint=f"one of {', '.join(KINDS)}",
            )
        if self.kind == "fail" and self.operation not in FAILABLE:
            raise ValidationError(
                f"fault 'fail' applies to methods answered with an operation "
                f"({', '.join(FAILABLE)}), not {self.operation!r}"
            )
        if self.kind == "transient" and self.status not in _TRANSIENT:
            raise ValidationError(
                f"transient fault status must be one of {sorted(_TRANSIENT)}, not {self.status}"
            )
        # The shared checks of count, skip, probability and seconds, run as for a
        # latency rule: SageMaker's own kinds would refuse Vertex's "fail" methods.
        kind, self.kind = self.kind, "latency"
        try:
            super().__post_init__()
        finally:
            self.kind = kind


def parse_rule(text: str) -> VertexFaultRule:
    """``"DeployModel:throttle:count=2"`` -> VertexFaultRule; ValidationError naming the bad part.

    The options are read by SageMaker's parser (same syntax, same options).
    """
    operation, _, rest = text.partition(":")
    kind, _, options = rest.partition(":")
    if not operation or not kind:
        raise ValidationError(
            f"bad fault {text!r}",
            hint="write OPERATION:KIND[:key=value,...], e.g. DeployModel:throttle:count=2",
        )
    as_latency = f"{operation}:latency:{options}"
    try:
        parsed = shared.parse_rule(as_latency)
    except ValidationError as error:
        raise ValidationError(error.message.replace(as_latency, text), hint=error.hint) from None
    options_given = {f.name: getattr(parsed, f.name) for f in fields(parsed) if f.init}
    return VertexFaultRule(**{**options_given, "kind": kind})


class FaultPlan(shared.FaultPlan):
    """The rules in force and the calls received, per method (thread-safe)."""

    def add(self, operation: str, kind: str, **options: Any) -> VertexFaultRule:
        """Add a rule (see the module docstring for ``options``); returns it."""
        return self.add_rule(VertexFaultRule(operation=operation, kind=kind, **options))

    def add_rule(self, rule: shared.FaultRule | str) -> VertexFaultRule:
        return super().add_rule(parse_rule(rule) if isinstance(rule, str) else rule)


def intercept(plan: FaultPlan, method: str, backend: Any, name: str) -> tuple[int, Any] | None:
    """Count one call of ``method`` on resource ``name`` and apply the rule that fires on it.

    Returns the answer to send instead of calling the handler (an error, or an
    operation that will fail), or None to call it (after any added latency).
    """
    rule = plan.receive(method, before=True)
    if rule is not None and rule.kind == "throttle":
        error = ApiError("RESOURCE_EXHAUSTED", f"Quota exceeded for {method}; retry later.")
        return error.http_status, error.body()
    if rule is not None and rule.kind == "transient":
        error = ApiError(_TRANSIENT[rule.status], "Injected transient failure; retry.")
        return rule.status, error.body()
    if rule is not None and rule.kind == "latency":
        time.sleep(rule.seconds)
    if method in FAILABLE:
        failure = plan.receive(method, before=False)
        if failure is not None:
            return 200, _failed_operation(backend, name, FAILABLE[method], failure.reason)
    return None


def _failed_operation(backend: Any, name: str, metadata_type: str, reason: str) -> dict[str, Any]:
    """Register an operation on ``name`` (or the location, for a collection) that ends in error."""
    relative = name[len(backend.parent) :].strip("/").split("/")
    target = name if len(relative) == 2 else backend.parent

    def fail() -> None:
        raise ApiError("FAILED_PRECONDITION", reason)

    with backend.lock:
        return backend.operations.start(target, metadata_type, fail).to_json()


def http_view(
    plan: FaultPlan, method: str, raw_body: bytes, query: dict[str, str]
) -> tuple[int, Any]:
    """The HTTP view of ``plan`` (see the module docstring); bad input is a 400 naming it."""
    try:
        if method == "POST":
            try:
                texts = json.loads(raw_body or b"{}")["faults"]
            except (ValueError, KeyError, TypeError):
                raise ValidationError(
                    'the body must be JSON {"faults": ["OP:KIND[:k=v,...]", ...]}'
                ) from None
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValidationError(
                    '"faults" must be a list of strings like "DeployModel:throttle"'
                )
            for rule in [parse_rule(text) for text in texts]:  # all valid, or none added
                plan.add_rule(rule)
        elif method == "DELETE":
            if query.get("calls"):
                plan.reset()
            else:
                plan.clear()
        elif method != "GET":
            return 405, {"error": f"{method} is not supported"}
    except ValidationError as error:
        return 400, {"error": str(error)}
    return 200, {"rules": [rule.as_dict() for rule in plan.rules], "calls": plan.calls()}
