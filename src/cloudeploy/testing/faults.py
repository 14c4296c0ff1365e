"""Fault injection and call counting shared by the emulators (provider-neutral).

An emulator subclasses :class:`FaultRule` to name its kinds and how it answers
them, and :class:`FaultPlan` to make plans of that rule; it applies the rule
:meth:`FaultPlan.receive` returns to the call in its own way. Kept here:

- which calls a rule fires on: the calls to its ``operation`` (or every call for
  ``*``); it lets its first ``skip`` pass, then fires on the next ``count``
  (``None``: on every one), each with ``probability`` drawn from a
  ``random.Random(seed)`` of its own, so a seeded plan fires on the same calls
  every run;
- the options of the kinds every emulator has, named alike: ``seconds``
  (``latency``), ``status`` (``transient``; the statuses in the rule class's
  ``TRANSIENT``) and ``reason`` (``fail``);
- the plan: rules checked in the order added, the first that fires wins; every
  call counted per operation, faulted or not; thread-safe;
- the text form ``OPERATION:KIND[:key=value,...]`` (:func:`parse_rule`), for the
  emulators' ``--fault`` options;
- the HTTP view (:func:`http_view`): ``GET`` -> ``{"rules": [...], "calls": {...}}``;
  ``POST {"faults": ["OP:KIND...", ...]}`` adds rules (all or none); ``DELETE``
  removes them (``?calls=1`` also forgets the counts).
"""

from __future__ import annotations

import json
import random
import threading
import types
import typing
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from cloudeploy.errors import ValidationError

#: The fields of a rule that are not options in its text form.
_NOT_OPTIONS = ("operation", "kind")


@dataclass
class FaultRule:
    """One rule; an emulator's subclass sets the class attributes below.

    Creating a rule checks it: a bad kind, operation or option is a
    ValidationError naming it.
    """

    #: The kinds the emulator knows.
    KINDS: ClassVar[tuple[str, ...]] = ()
    #: Kinds that act on a call's result once it succeeded (see
    #: :meth:`FaultPlan.receive`), each with the only operations it applies to.
    AFTER: ClassVar[Mapping[str, Collection[str]]] = {}
    #: The statuses a ``transient`` fault can answer, with the error each one names.
    TRANSIENT: ClassVar[Mapping[int, str]] = {}
    #: Rule text shown in hints.
    EXAMPLE: ClassVar[str] = "OPERATION:throttle:count=2"

    operation: str
    kind: str
    count: int | None = None
    probability: float = 1.0
    seed: int | None = None
    skip: int = 0
    seconds: float = 1.0
    status: int = 503
    reason: str = "Injected failure"
    fired: int = field(default=0, init=False)
    skipped: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValidationError(
                f"unknown fault kind {self.kind!r} for {self.operation}",
                hint=f"one of {', '.join(self.KINDS)}",
            )
        if not self.operation:
            raise ValidationError("a fault needs an operation name (or '*')")
        if self.kind in self.AFTER and self.operation not in self.AFTER[self.kind]:
            raise ValidationError(
                f"fault {self.kind!r} applies to {', '.join(self.AFTER[self.kind])}, "
                f"not {self.operation!r}"
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
            raise ValidationError(f"fault {self.kind} seconds must be >= 0, not {self.seconds}")
        if self.kind == "transient" and self.status not in self.TRANSIENT:
            raise ValidationError(
                f"transient fault status must be one of {sorted(self.TRANSIENT)}, not {self.status}"
            )
        self._rng = random.Random(self.seed)

    @property
    def after(self) -> bool:
        """Whether the rule acts on a call's result rather than instead of the call."""
        return self.kind in self.AFTER

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
        """The rule's fields as given, and how many times it fired."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        return {**given, "fired": self.fired}


RuleT = TypeVar("RuleT", bound=FaultRule)


def parse_rule(text: str, rule_class: type[RuleT]) -> RuleT:
    """``"OP:throttle:count=2"`` -> a ``rule_class``; ValidationError naming the bad part.

    The options are the rule's fields (``count``, ``probability``, ``seed``,
    ``skip``, ``seconds``, ``status``, ``reason``), each read as its type.
    """
    operation, _, rest = text.partition(":")
    kind, _, options = rest.partition(":")
    if not operation or not kind:
        raise ValidationError(
            f"bad fault {text!r}",
            hint=f"write OPERATION:KIND[:key=value,...], e.g. {rule_class.EXAMPLE}",
        )
    casts = _option_types(rule_class)
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
    return rule_class(operation=operation, kind=kind, **values)


def _option_types(rule_class: type[FaultRule]) -> dict[str, type]:
    """The options of ``rule_class``'s text form and the type each is read as."""
    hints = typing.get_type_hints(rule_class)
    casts = {}
    for option in fields(rule_class):
        if not option.init or option.name in _NOT_OPTIONS:
            continue
        kind = hints[option.name]
        if isinstance(kind, types.UnionType):  # "int | None": the value is an int
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        casts[option.name] = kind
    return casts


class FaultPlan(Generic[RuleT]):
    """The rules in force and the calls received, per operation (thread-safe).

    A subclass sets ``rule_class``, the emulator's :class:`FaultRule`.
    """

    rule_class: type[RuleT]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[RuleT] = []
        self._calls: Counter[str] = Counter()

    def add(self, operation: str, kind: str, **options: Any) -> RuleT:
        """Add a rule (``options`` are the rule's fields); returns it."""
        return self.add_rule(self.rule_class(operation=operation, kind=kind, **options))

    def add_rule(self, rule: RuleT | str) -> RuleT:
        """Add a rule, or the rule written as text (:func:`parse_rule`); returns it."""
        rule = parse_rule(rule, self.rule_class) if isinstance(rule, str) else rule
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
    def rules(self) -> list[RuleT]:
        with self._lock:
            return list(self._rules)

    def calls(self, operation: str | None = None) -> Any:
        """Calls received for ``operation`` (an int), or all counts (a dict) when None."""
        with self._lock:
            return self._calls[operation] if operation else dict(self._calls)

    def receive(self, operation: str, *, before: bool) -> RuleT | None:
        """Count one call (when ``before``) and return the rule that fires on it, if any.

        ``before``: rules acting instead of the call; otherwise rules acting on
        its result (the rule class's ``AFTER`` kinds), asked once it succeeded.
        """
        with self._lock:
            if before:
                self._calls[operation] += 1
            for rule in self._rules:
                if rule.after == before or not rule.matches(operation):
                    continue
                if rule.draw():
                    return rule
        return None


def http_view(
    plan: FaultPlan, method: str, raw_body: bytes, query: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """Answer ``method`` on ``plan`` over HTTP (see the module docstring): (status, JSON body).

    Bad input is a 400 ``{"error": ...}`` naming it; a method other than GET,
    POST and DELETE a 405.
    """
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
                    f'"faults" must be a list of strings like "{plan.rule_class.EXAMPLE}"'
                )
            for rule in [parse_rule(text, plan.rule_class) for text in texts]:
                plan.add_rule(rule)  # after all parsed: all valid, or none added
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
