"""Typed provider options: one frozen dataclass per provider, checked once.

Provider-only settings never widen the shared signatures (DESIGN.md): they come
in an ``options`` mapping. Each provider declares what it accepts as a frozen
subclass of :class:`ProviderOptions` whose fields are made with :func:`option`:
a kind (what values it takes), a default (``None`` everywhere: "the provider's
default, or leave as it is"), the **steps** that read it and a one-line doc.
The steps are the provider calls of a deploy plus batch:

- ``upload``: ``upload_model``;
- ``create_endpoint``: ``create_endpoint``;
- ``deploy``: ``deploy``;
- ``batch``: a batch prediction job (``batch_predict``).

:meth:`ProviderOptions.parse` turns a mapping into the typed object for one
step and raises :class:`~cloudeploy.errors.ValidationError` naming the option
when it is unknown, of the wrong kind, or not read by that step: an option the
step would ignore is an error, never silently dropped. :meth:`ProviderOptions.split`
does the same for a whole flow (``cloudeploy deploy`` runs upload,
create_endpoint and deploy) and hands each step the options it reads.
:meth:`ProviderOptions.from_text` reads the CLI's ``--option KEY=VALUE``.
docs/options.md lists every option of every provider.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from cloudeploy.errors import ValidationError

UPLOAD = "upload"
CREATE_ENDPOINT = "create_endpoint"
DEPLOY = "deploy"
BATCH = "batch"
#: Every step an option may be read by, in the order a deploy runs them.
STEPS = (UPLOAD, CREATE_ENDPOINT, DEPLOY, BATCH)
#: The steps ``cloudeploy.deploy`` runs.
DEPLOY_FLOW = (UPLOAD, CREATE_ENDPOINT, DEPLOY)


@dataclass(frozen=True)
class Kind:
    """What values an option takes.

    ``check(value)`` returns the value as the provider reads it, or raises
    ValueError saying what is wrong (the option's name is added by the caller);
    ``from_text(text)`` reads the CLI's text form and then checks it.
    ``describe`` is the phrase the docs and error messages use.
    """

    describe: str
    check: Callable[[Any], Any]
    from_text: Callable[[str], Any]


def _wrong(kind: str, value: Any) -> ValueError:
    return ValueError(f"must be {kind}, got {value!r} ({type(value).__name__})")


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _wrong("true or false", value)
    return value


def _bool_text(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"must be true or false, got {text!r}")


def _json_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"must be JSON, got {text!r}") from None


BOOL = Kind("true or false", _check_bool, _bool_text)


def whole_number(low: int, high: int) -> Kind:
    """A whole number in ``low..high`` (booleans and fractions refused)."""
    describe = f"a whole number {low}..{high}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _wrong(describe, value)
        return value

    def from_text(text: str) -> int:
        try:
            return check(int(text.strip()))
        except ValueError:
            raise ValueError(f"must be {describe}, got {text!r}") from None

    return Kind(describe, check, from_text)


def fraction() -> Kind:
    """A finite number in 0..1 (an int is taken as a float)."""
    describe = "a number between 0 and 1"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _wrong(describe, value)
        if not 0.0 <= value <= 1.0:
            raise _wrong(describe, value)
        return float(value)

    def from_text(text: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ValueError(f"must be {describe}, got {text!r}") from None
        return check(number)

    return Kind(describe, check, from_text)


def text(pattern: str | None = None, describe: str = "a non-empty string") -> Kind:
    """A non-empty string, matching ``pattern`` (a full match) when given."""
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or (compiled and not compiled.fullmatch(value)):
            raise _wrong(describe, value)
        return value

    return Kind(describe, check, lambda raw: check(raw.strip()))


def choice(*values: str) -> Kind:
    describe = "one of " + ", ".join(values)

    def check(value: Any) -> str:
        if value not in values:
            raise _wrong(describe, value)
        return value

    return Kind(describe, check, lambda raw: check(raw.strip()))


def string_map(key: Kind, value: Kind, describe: str) -> Kind:
    """A mapping of strings to strings; the CLI form is ``k=v,k2=v2`` or a JSON object."""

    def check(given: Any) -> dict[str, str]:
        if not isinstance(given, Mapping):
            raise _wrong(describe, given)
        checked = {}
        for k, v in given.items():
            try:
                checked[key.check(k)] = value.check(v)
            except ValueError as error:
                raise ValueError(f"has a bad entry {k!r}: it {error}") from None
        return checked

    def from_text(raw: str) -> dict[str, str]:
        raw = raw.strip()
        if raw.startswith("{"):
            return check(_json_text(raw))
        pairs = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            k, sep, v = item.partition("=")
            if not sep:
                raise ValueError(f"must be {describe} as k=v,k2=v2 or a JSON object, got {raw!r}")
            pairs[k.strip()] = v.strip()
        return check(pairs)

    return Kind(describe, check, from_text)


def json_object(describe: str, validate: Callable[[dict[str, Any]], None] | None = None) -> Kind:
    """A JSON object (a dict), checked further by ``validate`` (raises ValueError)."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong(describe, value)
        value = dict(value)
        if validate is not None:
            validate(value)
        return value

    return Kind(describe, check, lambda raw: check(_json_text(raw)))


def option(kind: Kind, *, steps: Iterable[str], doc: str) -> Any:
    """A field of a :class:`ProviderOptions` class: default None, read by ``steps``."""
    steps = tuple(steps)
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise TypeError(f"option steps must be some of {STEPS}, got {steps}")
    return field(default=None, metadata={"kind": kind, "steps": steps, "doc": doc})


@dataclass(frozen=True)
class OptionSpec:
    """One option as the docs and checks see it."""

    name: str
    kind: Kind
    steps: tuple[str, ...]
    doc: str


Options = TypeVar("Options", bound="ProviderOptions")


@dataclass(frozen=True)
class ProviderOptions:
    """The options one provider accepts; subclasses only declare fields with :func:`option`.

    A field left at ``None`` was not given: the provider uses its default (the
    profile's setting, or what the resource already has). Instances are made by
    :meth:`parse`, which has checked every value.
    """

    #: The provider's registry name, for messages.
    provider: ClassVar[str] = ""

    @classmethod
    def _who(cls) -> str:
        return f"the {cls.provider} provider" if cls.provider else "this provider"

    @classmethod
    def specs(cls) -> dict[str, OptionSpec]:
        """Every option, by name, in declaration order."""
        return {
            f.name: OptionSpec(f.name, f.metadata["kind"], f.metadata["steps"], f.metadata["doc"])
            for f in dataclasses.fields(cls)
        }

    @classmethod
    def _check(
        cls, options: Mapping[str, Any] | ProviderOptions | None, *, steps: Sequence[str], flow: str
    ) -> dict[str, Any]:
        """The given options (None values are "not given"), checked in this order: the
        name is known, one of ``steps`` reads it (``flow`` names them in the message),
        the value is of its kind. Returns the values as the provider reads them."""
        if isinstance(options, ProviderOptions) and not isinstance(options, cls):
            raise ValidationError(f"{type(options).__name__} are not options of {cls._who()}")
        if options is not None and not isinstance(options, (Mapping, ProviderOptions)):
            raise ValidationError(f"options must be a mapping of option names to values, got {type(options).__name__}")
        specs = cls.specs()
        given = options.given() if isinstance(options, ProviderOptions) else dict(options or {})
        unknown = sorted(str(name) for name in given if name not in specs)
        if unknown:
            raise ValidationError(
                f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                f"for {cls._who()} (options: {', '.join(specs) or 'none'})",
                hint="see docs/options.md",
            )
        checked = {}
        for name, value in given.items():
            if value is None:
                continue
            if not set(specs[name].steps) & set(steps):
                raise ValidationError(
                    f"option {name!r} does not apply to {flow} on {cls._who()}: "
                    f"it is read by {', '.join(specs[name].steps)}",
                    hint="see docs/options.md",
                )
            try:
                checked[name] = specs[name].kind.check(value)
            except ValueError as error:
                raise ValidationError(f"option {name!r} of {cls._who()} {error}") from None
        return checked

    @classmethod
    def parse(cls: type[Options], options: Mapping[str, Any] | ProviderOptions | None, *, step: str) -> Options:
        """The typed options for ``step``; ValidationError naming any option that is
        unknown, not read by ``step``, or of the wrong kind."""
        if step not in STEPS:
            raise ValueError(f"step must be one of {STEPS}, got {step!r}")
        return cls(**cls._check(options, steps=(step,), flow=step))

    @classmethod
    def split(
        cls, options: Mapping[str, Any] | ProviderOptions | None, *, steps: Sequence[str] = DEPLOY_FLOW
    ) -> dict[str, Options]:
        """Typed options for each of ``steps`` (a flow such as a deploy): each gets the
        options it reads. An option that none of ``steps`` reads is a ValidationError."""
        flow = "deploy" if tuple(steps) == DEPLOY_FLOW else ", ".join(steps)
        checked = cls._check(options, steps=steps, flow=flow)
        specs = cls.specs()
        return {
            step: cls(**{name: value for name, value in checked.items() if step in specs[name].steps})
            for step in steps
        }

    @classmethod
    def from_text(cls, pairs: Iterable[str]) -> dict[str, Any]:
        """``["key=value", ...]`` (the CLI's ``--option``) as typed values; ValidationError naming a bad one."""
        specs = cls.specs()
        values: dict[str, Any] = {}
        for pair in pairs:
            name, sep, raw = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ValidationError(f"--option takes KEY=VALUE, got {pair!r}")
            if name not in specs:
                cls._check({name: raw}, steps=STEPS, flow="any step")  # the unknown-option message
            try:
                values[name] = specs[name].kind.from_text(raw)
            except ValueError as error:
                raise ValidationError(f"option {name!r} of {cls._who()} {error}") from None
        return values

    def given(self) -> dict[str, Any]:
        """The options that were given (not None), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def __bool__(self) -> bool:
        return bool(self.given())


@dataclass(frozen=True)
class NoOptions(ProviderOptions):
    """A provider that takes no options: every option is unknown."""
