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

A rule lets its first ``skip`` matching calls pass, then fires on the next ``count``
(``None``: on every one), each
with ``probability`` drawn from a ``random.Random(seed)`` of its own, so a seeded
plan fires on the same calls every run. Rules are checked in the order added; the
first that fires wins. Every call is counted, faulted or not.

The plan is process-global like moto's backends; ``SageMakerEmulation.reset``
clears rules and counts. Rules are also written ``OPERATION:KIND[:key=value,...]``
(``parse_rule``) for ``cloudeploy emulator sagemaker --fault``, and an emulator in
another process is driven over HTTP at ``<endpoint_url>/moto-api/cloudeploy/faults``:
``GET`` -> ``{"rules": [...], "calls": {...}}``; ``POST {"faults": ["OP:KIND...", ...]}``
adds rules; ``DELETE`` removes them (``?calls=1`` also forgets the counts).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.errors import ValidationError

KINDS = ("throttle", "transient", "latency", "fail", "silent_rollback")
#: Kinds that act on the endpoint after the call succeeded, and the operations they fit.
_AFTER = {"fail": ("CreateEndpoint", "UpdateEndpoint"), "silent_rollback": ("UpdateEndpoint",)}
_TRANSIENT = {
    500: "InternalFailure",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class FaultRule:
    """One rule; see the module docstring for what each kind does."""

    operation: str
    kind: str
    count: int | None = None
    probability: float = 1.0
    seed: int | None = None
    skip: int = 0
    seconds: float = 1.0
    status: int = 503
    reason: str = "Injected failure"
    fired: int = 0
    skipped: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValidationError(
                f"unknown fault kind {self.kind!r} for {self.operation}",
                hint=f"one of {', '.join(KINDS)}",
            )
        if not self.operation:
            raise ValidationError("a fault needs an operation name (or '*')")
        if self.kind in _AFTER and self.operation not in _AFTER[self.kind]:
            raise ValidationError(
                f"fault {self.kind!r} applies to {', '.join(_AFTER[self.kind])}, not {self.operation!r}"
            )
        if self.count is not None and self.count < 1:
            raise ValidationError(
                f"fault count must be >= 1 (or omitted for every call), not {self.count}"
            )
        if self.skip < 0:
            raise ValidationError(f"fault skip must be >= 0, not {self.skip}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValidationError(
                f"fault probability must be within [0, 1], not {self.probability}"
            )
        if self.seconds < 0:
            raise ValidationError(f"fault latency seconds must be >= 0, not {self.seconds}")
        if self.kind == "transient" and self.status not in _TRANSIENT:
            raise ValidationError(
                f"transient fault status must be one of {sorted(_TRANSIENT)}, not {self.status}"
            )
        self._rng = random.Random(self.seed)

    def matches(self, operation: str) -> bool:
        return self.operation in ("*", operation)

    def draw(self) -> bool:
        """Whether the rule fires on this matching call (consumes its count when it does)."""
        if self.skip > self.skipped:
            self.skipped += 1
            return False
        if self.count is not None and self.fired >= self.count:
            return False
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "kind": self.kind,
            "count": self.count,
            "probability": self.probability,
            "seed": self.seed,
            "skip": self.skip,
            "seconds": self.seconds,
            "status": self.status,
            "reason": self.reason,
            "fired": self.fired,
        }


def parse_rule(text: str) -> FaultRule:
    """``"UpdateEndpoint:throttle:count=2"`` -> FaultRule; ValidationError naming the bad part.

    Options: ``count``, ``skip``, ``probability``, ``seed``, ``seconds``, ``status``, ``reason``.
    """
    operation, _, rest = text.partition(":")
    kind, _, options = rest.partition(":")
    if not operation or not kind:
        raise ValidationError(
            f"bad fault {text!r}",
            hint="write OPERATION:KIND[:key=value,...], e.g. UpdateEndpoint:throttle:count=2",
        )
    casts = {
        "count": int,
        "probability": float,
        "seed": int,
        "skip": int,
        "seconds": float,
        "status": int,
        "reason": str,
    }
    values: dict[str, Any] = {}
    for option in filter(None, options.split(",")):
        key, sep, value = option.partition("=")
        if not sep or key not in casts:
            raise ValidationError(
                f"bad fault option {option!r} in {text!r}",
                hint=f"options: {', '.join(casts)} (key=value)",
            )
        try:
            values[key] = casts[key](value)
        except ValueError:
            raise ValidationError(
                f"fault option {key} in {text!r} is not a {casts[key].__name__}: {value!r}"
            ) from None
    return FaultRule(operation=operation, kind=kind, **values)


class FaultPlan:
    """The rules in force and the calls received, per operation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._calls: Counter[str] = Counter()

    def add(self, operation: str, kind: str, **options: Any) -> FaultRule:
        """Add a rule (see the module docstring for ``options``); returns it."""
        rule = FaultRule(operation=operation, kind=kind, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_rule(self, rule: FaultRule | str) -> FaultRule:
        rule = parse_rule(rule) if isinstance(rule, str) else rule
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the call counts stay)."""
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Remove every rule and forget every call."""
        with self._lock:
            self._rules.clear()
            self._calls.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def calls(self, operation: str | None = None) -> Any:
        """Calls received for ``operation`` (an int), or all counts (a dict) when None."""
        with self._lock:
            return self._calls[operation] if operation else dict(self._calls)

    def receive(self, operation: str, *, before: bool) -> FaultRule | None:
        """Count one call (when ``before``) and return the rule that fires on it, if any.

        ``before``: rules acting instead of the call (throttle, transient, latency);
        otherwise rules acting on its result (fail, silent_rollback).
        """
        with self._lock:
            if before:
                self._calls[operation] += 1
            for rule in self._rules:
                if (rule.kind in _AFTER) == before or not rule.matches(operation):
                    continue
                if rule.draw():
                    return rule
        return None


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
                _TRANSIENT[rule.status], "Injected transient failure; retry.", rule.status
            )
        if rule is not None and rule.kind == "latency":
            time.sleep(rule.seconds)
        response = original(self)
        if 200 <= int(response[0]) < 300:
            after = PLAN.receive(operation, before=False)
            if after is not None:
                _sabotage(self, after)
        return response

    return call_action


def _sabotage(response, rule: FaultRule) -> None:
    from cloudeploy.testing.sagemaker.state import STATE

    name = response._get_param("EndpointName")
    with STATE.lock:
        runtime = STATE.endpoints.get((response.current_account, response.region, name))
    if runtime is not None:
        runtime.sabotage(rule.kind, rule.reason)


HTTP_PATH = "/moto-api/cloudeploy/faults"


def http_handler(request, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """The HTTP view of PLAN (see the module docstring); bad input is a 400 naming it."""
    answer_headers = {"Content-Type": "application/json"}
    try:
        if request.method == "POST":
            try:
                body = json.loads(request.get_data() or b"{}")
                texts = body["faults"]
            except (ValueError, KeyError, TypeError):
                raise ValidationError(
                    'the body must be JSON {"faults": ["OP:KIND[:k=v,...]", ...]}'
                ) from None
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValidationError(
                    '"faults" must be a list of strings like "UpdateEndpoint:throttle"'
                )
            for rule in [parse_rule(text) for text in texts]:  # all valid, or none added
                PLAN.add_rule(rule)
        elif request.method == "DELETE":
            if request.args.get("calls"):
                PLAN.reset()
            else:
                PLAN.clear()
        elif request.method != "GET":
            return 405, answer_headers, json.dumps({"error": f"{request.method} is not supported"})
    except ValidationError as error:
        return 400, answer_headers, json.dumps({"error": str(error)})
    state = {"rules": [rule.as_dict() for rule in PLAN.rules], "calls": PLAN.calls()}
    return 200, answer_headers, json.dumps(state)
