"""The rollout plan: traffic steps, bake time, minimum traffic, and gates.

One plan drives every provider. It comes from Python (``RolloutPlan(...)``),
from CLI flags, or from a TOML/YAML file kept in the user's repository::

    # rollout.toml
    steps = [5, 25, 50, 100]
    bake = "10m"
    min_requests = 200
    max_error_rate = "1%"
    max_p99_ms = 300
    max_p99_ratio = 1.5          # new p99 at most 1.5x the current version's
    max_p50_ratio = 2            # new p50 at most 2x the current version's
    max_model_error_rate = "1%"  # per class: model errors (5xx) ...
    max_timeout_rate = "1%"      # ... and timeouts
    input_error_margin = "2%"    # 4xx share clearly above the current version's fails (default 2%; "off")
    max_prediction_shift = 0.1   # Jensen–Shannon between the versions' live predictions
    fail_on_non_finite = true    # any NaN/inf prediction fails (default)

    [gates.drift]                # further gates by registered name (rollout.gates)
    max = 0.3

Flags given on the command line override the file's values
(:meth:`RolloutPlan.with_overrides`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.rollout.gates import build_gates
from cloudeploy.rollout.shadow import ShadowPlan
from cloudeploy.rollout.units import format_duration, parse_duration, parse_rate

__all__ = ["RolloutPlan", "format_duration", "parse_duration", "parse_rate", "parse_steps"]

yaml = lazy.module("yaml")

DEFAULT_STEPS = (5, 25, 50, 100)
DEFAULT_BAKE_S = 600.0
DEFAULT_MIN_REQUESTS = 100
DEFAULT_MAX_ERROR_RATE = 0.01
#: How far above the current version's 4xx share the new version's may be before it fails (if significant).
DEFAULT_INPUT_ERROR_MARGIN = 0.02


def parse_steps(value: str | Sequence[int | str]) -> tuple[int, ...]:
    """Traffic steps from ``"5,25,50,100"`` or a list; strictly rising, ending at 100."""
    items = [s for s in value.split(",") if s.strip()] if isinstance(value, str) else list(value)
    steps: list[int] = []
    for item in items:
        text = str(item).strip().rstrip("%")
        if isinstance(item, bool) or not text.isdigit():
            raise ValidationError(f"invalid traffic step {item!r}", hint="steps are whole percents like 5,25,50,100")
        steps.append(int(text))
    if not steps:
        raise ValidationError("a rollout needs at least one traffic step")
    if any(not 0 < s <= 100 for s in steps):
        raise ValidationError(f"traffic steps must be between 1 and 100, got {steps}")
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise ValidationError(f"traffic steps must rise strictly, got {steps}")
    if steps[-1] != 100:
        raise ValidationError(f"the last traffic step must be 100, got {steps}", hint="append 100 to --steps")
    return tuple(steps)


@dataclass(frozen=True)
class RolloutPlan:
    """How to move traffic to a new version, and when to stop.

    - ``steps``: the new version's percent at each step, rising to 100.
    - ``bake_s``: seconds each step serves before it is judged (also the
      metrics window). A step whose new version has not yet seen
      ``min_requests`` requests keeps baking, up to ``max_wait_s`` (default
      three bakes), and is then judged "not enough traffic" and rolled back.
    - ``max_error_rate``: the new version's share of server-side errors (the
      5xx class: model errors and timeouts, never the client's 4xx) that fails
      a step; ``max_model_error_rate`` and ``max_timeout_rate`` per class.
    - ``input_error_margin``: the new version fails when its 4xx share is
      clearly above the current version's on the same window: higher by more
      than this margin and significant (one-sided two-proportion z-test at 1%).
      ``max_input_error_rate`` is an absolute limit besides.
    - ``fail_on_non_finite``: any NaN/inf prediction of the new version fails.
    - ``max_p50_ms`` / ``max_p99_ms``: the new version's latency that fails a step.
    - ``max_p50_ratio`` / ``max_p99_ratio``: the new version's latency over the
      current version's (measured in the same window) that fails a step.
    - ``max_prediction_shift``: Jensen–Shannon divergence (0..1) between the two
      versions' live predictions that fails a step (class shares, or
      histograms on common bins for regressors).
    Comparisons with the current version are not judged until it has
    ``min_requests`` in the window too.
    - ``gates``: further gates by registered name with their settings
      (see :mod:`cloudeploy.rollout.gates`), e.g. ``{"drift": {"max": 0.3}}``.
    - ``final_bake``: whether the 100% step bakes and is judged too (the
      starting split is still restorable until the plan ends).

    ``None`` disables a threshold. Every gate that can fail does so as soon as
    ``min_requests`` have been seen, without waiting for the bake to end.
    """

    steps: tuple[int, ...] = DEFAULT_STEPS
    bake_s: float = DEFAULT_BAKE_S
    min_requests: int = DEFAULT_MIN_REQUESTS
    max_error_rate: float | None = DEFAULT_MAX_ERROR_RATE
    max_p99_ms: float | None = None
    max_p99_ratio: float | None = None
    max_wait_s: float | None = None
    final_bake: bool = True
    max_model_error_rate: float | None = None
    max_timeout_rate: float | None = None
    max_input_error_rate: float | None = None
    input_error_margin: float | None = DEFAULT_INPUT_ERROR_MARGIN
    fail_on_non_finite: bool = True
    max_p50_ms: float | None = None
    max_p50_ratio: float | None = None
    max_prediction_shift: float | None = None
    gates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Shadow phase before the first step (rollout/shadow.py): a ShadowPlan, a duration or a table.
    shadow: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", parse_steps(self.steps))
        object.__setattr__(self, "bake_s", parse_duration(self.bake_s, what="bake time"))
        if self.max_wait_s is not None:
            object.__setattr__(self, "max_wait_s", parse_duration(self.max_wait_s, what="max wait"))
            if self.max_wait_s < self.bake_s:
                raise ValidationError(
                    f"max wait ({format_duration(self.max_wait_s)}) is shorter than the bake time "
                    f"({format_duration(self.bake_s)})"
                )
        if isinstance(self.min_requests, bool) or not isinstance(self.min_requests, int) or self.min_requests < 0:
            raise ValidationError(f"min requests must be a whole number >= 0, got {self.min_requests!r}")
        for name in ("max_error_rate", "max_model_error_rate", "max_timeout_rate", "max_input_error_rate",
                     "input_error_margin"):
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().lower() == "off":
                value = None  # TOML has no null: "off" turns a default-on gate off
            object.__setattr__(self, name, None if value is None else parse_rate(value, what=name))
        for name in ("max_p50_ms", "max_p99_ms", "max_p50_ratio", "max_p99_ratio"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValidationError(f"{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.max_prediction_shift is not None:
            value = self.max_prediction_shift
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValidationError(
                    f"max_prediction_shift must be between 0 and 1 (a Jensen–Shannon divergence), got {value!r}"
                )
            object.__setattr__(self, "max_prediction_shift", float(value))
        if not isinstance(self.fail_on_non_finite, bool):
            raise ValidationError(f"fail_on_non_finite must be true or false, got {self.fail_on_non_finite!r}")
        if not isinstance(self.gates, Mapping):
            raise ValidationError("gates must map a gate name to its settings")
        object.__setattr__(self, "gates", {str(k): dict(v or {}) for k, v in self.gates.items()})
        build_gates(self)  # refuses unknown gate names and bad settings now, not mid-rollout
        object.__setattr__(self, "shadow", ShadowPlan.coerce(self.shadow))

    @property
    def wait_limit_s(self) -> float:
        """How long a step may bake while waiting for ``min_requests``."""
        return self.max_wait_s if self.max_wait_s is not None else 3 * self.bake_s

    def with_overrides(self, **values: Any) -> RolloutPlan:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        given = {k: v for k, v in values.items() if v is not None}
        unknown = set(given) - set(self.__dataclass_fields__)
        if unknown:
            raise ValidationError(f"unknown rollout plan field(s): {', '.join(sorted(unknown))}")
        return replace(self, **given)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "bake_s": self.bake_s,
            "min_requests": self.min_requests,
            "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms,
            "max_p99_ratio": self.max_p99_ratio,
            "max_wait_s": self.max_wait_s,
            "final_bake": self.final_bake,
            "max_model_error_rate": self.max_model_error_rate,
            "max_timeout_rate": self.max_timeout_rate,
            "max_input_error_rate": self.max_input_error_rate,
            "input_error_margin": self.input_error_margin,
            "fail_on_non_finite": self.fail_on_non_finite,
            "max_p50_ms": self.max_p50_ms,
            "max_p50_ratio": self.max_p50_ratio,
            "max_prediction_shift": self.max_prediction_shift,
            "gates": {k: dict(v) for k, v in self.gates.items()},
            "shadow": self.shadow.to_dict() if self.shadow is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "rollout plan") -> RolloutPlan:
        """Build a plan from a mapping; ``bake``/``max_wait`` take durations like ``"10m"``.

        Unknown keys are refused, naming ``source``.
        """
        data = dict(data)
        aliases = {"bake": "bake_s", "max_wait": "max_wait_s"}
        for short, long in aliases.items():
            if short in data:
                if long in data:
                    raise ValidationError(f"{source}: give {short!r} or {long!r}, not both")
                data[long] = data.pop(short)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            known = ", ".join(sorted({*cls.__dataclass_fields__, *aliases} - set(aliases.values())))
            raise ValidationError(f"{source}: unknown key(s) {', '.join(unknown)}", hint=f"known keys: {known}")
        if "steps" in data and not isinstance(data["steps"], (str, list, tuple)):
            raise ValidationError(f"{source}: steps must be a list of percents")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> RolloutPlan:
        """Read a plan from a ``.toml``, ``.yaml`` or ``.yml`` file.

        A TOML file may hold the plan at top level or under ``[rollout]``; so may YAML.
        """
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise ValidationError(f"cannot read rollout plan {path}: {error.strerror or error}") from None
        suffix = path.suffix.lower()
        if suffix == ".toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                raise ValidationError(f"{path}: invalid TOML: {error}") from None
        elif suffix in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(text) or {}
            except yaml.YAMLError as error:
                raise ValidationError(f"{path}: invalid YAML: {error}") from None
        else:
            raise ValidationError(f"rollout plan {path} must be a .toml, .yaml or .yml file")
        if not isinstance(data, dict):
            raise ValidationError(f"{path}: a rollout plan must be a table of settings")
        if set(data) == {"rollout"} and isinstance(data["rollout"], dict):
            data = data["rollout"]
        return cls.from_dict(data, source=str(path))

    def describe(self) -> list[str]:
        """One line per setting, for ``--dry-run`` and logs."""
        lines = [
            "steps: " + " → ".join(f"{s}%" for s in self.steps),
            f"bake: {format_duration(self.bake_s)} per step"
            + ("" if self.final_bake else " (100% not judged)"),
            f"min requests per step: {self.min_requests} (wait at most {format_duration(self.wait_limit_s)})",
        ]
        lines += [f"gate: {gate.describe()}" for gate in build_gates(self)]
        if self.shadow is not None:
            lines.insert(0, self.shadow.describe())
        return lines
