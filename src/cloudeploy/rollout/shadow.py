"""Shadow traffic: judge a candidate on copies of live requests before any user sees it.

A shadow run gives the candidate version copies of the serving version's live
requests for ``duration`` and throws its answers away; users are answered by
the serving version only and the endpoint's split never changes. The candidate
is judged by the plan's gates (:mod:`cloudeploy.rollout.gates`, the candidate's
metrics on the copies against the serving version's on the same requests) plus
its **agreement** with the serving version on the same rows:

- classifiers (labels): the share of rows where both versions answer the same label;
- regressors (numbers with a fraction): the share of rows whose answers differ by at
  most ``tolerance`` (relative to the serving answer, absolute below 1), with the mean
  absolute and relative error reported beside it.

How the copies are made depends on the provider: its shadow source
(``provider.shadow_source()``, a
:class:`~cloudeploy.providers.capabilities.ShadowSource`, in the provider's package):

- local: the endpoint's gateway mirrors ``share`` of the requests to the candidate's
  replicas after it answered from the serving version (``gateway/mirror.py``);
- SageMaker: a shadow variant (``ShadowProductionVariants``) that the service copies
  ``share`` of the requests to; its answers are read back from data capture;
- Vertex AI (no mirror): the requests the serving version logged (request-response
  logging in BigQuery) during the run are replayed against the candidate, pinned by
  its deployed-model id, and compared with the logged answers.

``run_shadow`` is the workflow (used by ``cloudeploy shadow`` and by a plan's
shadow phase in ``promote``); it returns a :class:`ShadowResult` and never moves
traffic. A source that cannot shadow on this endpoint (capture or logging off)
raises :class:`ShadowUnavailable`, whose one-line hint says how to turn it on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import ConflictError, NotFoundError, ValidationError
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import ShadowWindow
from cloudeploy.providers.shadow_metrics import flat_values
from cloudeploy.rollout.gates import GateResult, StepWindow, build_gates
from cloudeploy.rollout.state import ROLLED_BACK
from cloudeploy.rollout.units import format_duration, parse_duration, parse_rate

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider
    from cloudeploy.rollout.plan import RolloutPlan

DEFAULT_DURATION_S = 600.0
DEFAULT_SHARE = 1.0
DEFAULT_MIN_AGREEMENT = 0.9
DEFAULT_TOLERANCE = 0.1


# -- the plan -----------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowPlan:
    """The shadow phase of a rollout plan.

    - ``duration_s``: how long the candidate receives copies (``"10m"`` accepted);
    - ``share``: the fraction of live requests copied, in (0, 1] (``"50%"`` accepted);
    - ``min_agreement``: the least share of rows on which the candidate must agree;
    - ``tolerance``: regressors: the relative error (absolute below 1) within which
      two answers agree.

    The plan's ``min_requests`` is the least number of copied requests the
    candidate must answer before it is judged.
    """

    duration_s: float = DEFAULT_DURATION_S
    share: float = DEFAULT_SHARE
    min_agreement: float | None = DEFAULT_MIN_AGREEMENT
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        duration = parse_duration(self.duration_s, what="shadow duration")
        if duration <= 0:
            raise ValidationError(f"shadow duration must be positive, got {self.duration_s!r}")
        object.__setattr__(self, "duration_s", duration)
        share = parse_rate(self.share, what="shadow share")
        if share <= 0:
            raise ValidationError(f"shadow share must be above 0 (and at most 100%), got {self.share!r}")
        object.__setattr__(self, "share", share)
        if self.min_agreement is not None:
            object.__setattr__(self, "min_agreement", parse_rate(self.min_agreement, what="min agreement"))
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)) or not (
            0 <= self.tolerance < math.inf
        ):
            raise ValidationError(f"shadow tolerance must be a number >= 0, got {self.tolerance!r}")
        object.__setattr__(self, "tolerance", float(self.tolerance))

    @classmethod
    def coerce(cls, value: Any) -> ShadowPlan | None:
        """A ShadowPlan from None, a plan, a duration (``"10m"``) or a mapping of its fields."""
        if value is None or isinstance(value, ShadowPlan):
            return value
        if isinstance(value, Mapping):
            data = dict(value)
            if "duration" in data:
                if "duration_s" in data:
                    raise ValidationError("shadow: give 'duration' or 'duration_s', not both")
                data["duration_s"] = data.pop("duration")
            unknown = sorted(set(data) - set(cls.__dataclass_fields__))
            if unknown:
                raise ValidationError(f"shadow: unknown key(s) {', '.join(unknown)}",
                                      hint="known keys: duration, share, min_agreement, tolerance")
            return cls(**data)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return cls(duration_s=value)
        raise ValidationError(f"invalid shadow setting {value!r}", hint="give a duration like 10m or a table")

    def to_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "share": self.share,
                "min_agreement": self.min_agreement, "tolerance": self.tolerance}

    def describe(self) -> str:
        agree = "" if self.min_agreement is None else f", agreement ≥ {self.min_agreement:.0%}"
        return (f"shadow: {format_duration(self.duration_s)} on copies of {self.share:.0%} of live requests"
                f"{agree} (regressors: within {self.tolerance:g})")


# -- agreement --------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How often the candidate answered like the serving version on the same rows."""

    kind: str          # "classification" or "regression"
    rows: int
    agreeing: int
    mean_abs_error: float | None = None
    mean_rel_error: float | None = None

    @property
    def share(self) -> float | None:
        return self.agreeing / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows": self.rows, "agreeing": self.agreeing, "share": self.share,
                "mean_abs_error": self.mean_abs_error, "mean_rel_error": self.mean_rel_error}


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare(pairs: Iterable[tuple[Any, Any]], tolerance: float = DEFAULT_TOLERANCE) -> Agreement:
    """Agreement of candidate answers with serving answers, row by row.

    Answers that are all numbers with at least one fractional float are a
    regressor's (agree within ``tolerance``); anything else — labels as
    strings, ints or bools, and lists of them — a classifier's (agree when equal).
    """
    pairs = list(pairs)
    values = [v for pair in pairs for side in pair for v in flat_values(side)]
    regression = bool(values) and all(_is_real(v) for v in values) and any(
        isinstance(v, float) and not float(v).is_integer() for v in values
    )
    if not regression:
        agreeing = sum(1 for serving, candidate in pairs if serving == candidate)
        return Agreement("classification", len(pairs), agreeing)
    agreeing, abs_errors, rel_errors = 0, [], []
    for serving, candidate in pairs:
        s, c = flat_values(serving), flat_values(candidate)
        if len(s) != len(c) or not all(_is_real(v) for v in s + c):
            continue
        ok = True
        for a, b in zip(s, c, strict=True):
            error = abs(float(b) - float(a))
            scale = max(abs(float(a)), 1.0)
            if not math.isfinite(error):
                ok, error = False, math.inf
            abs_errors.append(error)
            rel_errors.append(error / scale)
            ok = ok and error <= tolerance * scale
        agreeing += ok
    finite = [e for e in abs_errors if math.isfinite(e)]
    return Agreement(
        "regression", len(pairs), agreeing,
        mean_abs_error=sum(finite) / len(finite) if finite else None,
        mean_rel_error=(sum(e for e in rel_errors if math.isfinite(e)) / len(finite)) if finite else None,
    )


def agreement_gate(agreement: Agreement, plan: ShadowPlan, min_rows: int) -> GateResult:
    """The ``agreement`` verdict: not judged below ``min_rows`` compared rows."""
    threshold = plan.min_agreement if plan.min_agreement is not None else 0.0
    share = agreement.share
    extra = ""
    if agreement.kind == "regression" and agreement.mean_rel_error is not None:
        extra = f"; mean abs error {agreement.mean_abs_error:.4g}, mean rel error {agreement.mean_rel_error:.2%}"
    detail = f"{agreement.agreeing} of {agreement.rows} rows agree ({agreement.kind}){extra}"
    if plan.min_agreement is None:
        return GateResult("agreement", None, share, threshold, detail + "; no threshold set", new=share)
    if share is None or agreement.rows < max(min_rows, 1):
        return GateResult("agreement", None, share, threshold, detail + f"; judged from {max(min_rows, 1)} rows",
                          new=share)
    return GateResult("agreement", share >= threshold, share, threshold, detail, new=share)


# -- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowResult:
    """How a shadow run ended. ``passed`` is False when a gate broke or too little traffic came."""

    endpoint: str
    serving: str
    candidate: str
    passed: bool
    reason: str
    started_at: float
    ended_at: float
    share: float
    gates: tuple[GateResult, ...] = ()
    agreement: Agreement | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    mirrored: int = 0
    dropped: int = 0
    traffic: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint, "serving": self.serving, "candidate": self.candidate,
            "passed": self.passed, "reason": self.reason, "started_at": self.started_at,
            "ended_at": self.ended_at, "share": self.share,
            "gates": [g.to_dict() for g in self.gates],
            "agreement": self.agreement.to_dict() if self.agreement else None,
            "metrics": self.metrics, "mirrored": self.mirrored, "dropped": self.dropped,
            "traffic": dict(self.traffic),
        }


#: Called after every read with (window, gates, agreement).
SampleCallback = Callable[[ShadowWindow, list[GateResult], Agreement], None]


def _no_samples(window: ShadowWindow, gates: list[GateResult], agreement: Agreement) -> None:
    pass


def shadow_versions(provider: Provider, endpoint: str, to: str) -> tuple[str, str, dict[str, int]]:
    """(serving version, candidate version, split) for a shadow run of ``to`` on ``endpoint``.

    The candidate must be deployed and receive no user traffic; the serving
    version is the one with the largest share.
    """
    status = provider.get_endpoint(endpoint)
    candidate = provider.get_model_version(status.model, to).version
    if status.deployment(candidate) is None:
        deployed = ", ".join(d.version for d in status.deployments) or "none"
        raise NotFoundError(
            f"{candidate} is not deployed on {endpoint} (deployed: {deployed})",
            hint=f"deploy it with no traffic first: cloudeploy deploy MODEL --endpoint {endpoint} --traffic 0",
        )
    split = status.traffic.to_dict()
    if split.get(candidate, 0) > 0:
        raise ConflictError(f"{candidate} already serves {split[candidate]}% of {endpoint}: "
                            "shadow traffic is for a version no user sees yet",
                            hint=f"cloudeploy promote {endpoint} --to {candidate} judges it on live traffic")
    others = [(p, v) for v, p in split.items() if v != candidate and p > 0]
    if not others:
        raise ConflictError(f"endpoint {endpoint} serves no traffic: there is nothing to copy")
    return max(others)[1], candidate, split


def run_shadow(
    provider: Provider,
    endpoint: str,
    to: str,
    plan: RolloutPlan,
    *,
    progress: ProgressCallback = no_progress,
    on_sample: SampleCallback = _no_samples,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ShadowResult:
    """Give ``to`` copies of ``endpoint``'s live requests under ``plan.shadow`` and judge it.

    Ends early as soon as a gate (or the agreement) breaks with ``plan.min_requests``
    seen; otherwise after the duration, or — short of ``min_requests`` — after
    three durations (or the plan's ``max_wait_s`` if longer), "not enough
    traffic". Never changes the split users see.
    """
    shadow = getattr(plan, "shadow", None) or ShadowPlan()
    source = provider.shadow_source()
    source.check(endpoint)
    serving, candidate, split = shadow_versions(provider, endpoint, to)
    gates = build_gates(plan)
    progress(f"shadow: copying {shadow.share:.0%} of {serving}'s requests on {endpoint} to {candidate} "
             f"for {format_duration(shadow.duration_s)}")
    source.start(endpoint, serving, candidate, shadow.share, progress=progress)
    started = clock()
    try:
        passed, reason, results, agreement, window, now = _watch(
            provider, source, endpoint, serving, candidate, plan, shadow, gates, started, on_sample, clock, sleep)
    finally:
        source.stop(endpoint, serving, candidate, progress=progress)
    return ShadowResult(
        endpoint=endpoint, serving=serving, candidate=candidate, passed=passed, reason=reason,
        started_at=started, ended_at=now, share=shadow.share, gates=tuple(results), agreement=agreement,
        metrics={"new": window.candidate.to_dict(),
                 "baseline": window.serving.to_dict() if window.serving else None},
        mirrored=window.mirrored, dropped=window.dropped,
        traffic=provider.get_endpoint(endpoint).traffic.to_dict(),  # read after stop: as users see it
    )


def _watch(provider, source, endpoint, serving, candidate, plan, shadow, gates, started, on_sample, clock, sleep):
    """Read and judge until a verdict: (passed, reason, gate results, agreement, window, time)."""
    wait_s = max(3 * shadow.duration_s, plan.max_wait_s or 0.0)
    end, wait_end = started + shadow.duration_s, started + wait_s
    interval = min(5.0, max(0.25, shadow.duration_s / 10))
    while True:
        sleep(max(0.0, min(interval, (end if clock() < end else wait_end) - clock())))
        now = clock()
        window = source.read(endpoint, serving, candidate, since=started, until=now)
        results, agreement = _judge(provider, endpoint, candidate, window, gates, plan, shadow)
        on_sample(window, results, agreement)
        enough = window.candidate.requests >= plan.min_requests and agreement.rows >= max(plan.min_requests, 1)
        broken = [r for r in results if r.passed is False]
        if enough and broken:
            reason = "; ".join(f"{r.gate} broke: {_value_text(r)}" for r in broken)
            return False, reason, results, agreement, window, now
        if enough and now >= end:
            reason = (f"{candidate} agreed with {serving} on {agreement.share:.1%} of {agreement.rows} rows"
                      if agreement.share is not None else "gates passed")
            return True, reason, results, agreement, window, now
        if now >= wait_end:
            reason = (f"not enough traffic: {candidate} answered {window.candidate.requests} copied requests "
                      f"({agreement.rows} rows compared) of {plan.min_requests} within {format_duration(wait_s)}")
            return False, reason, results, agreement, window, now


def _judge(provider, endpoint, candidate, window: ShadowWindow, gates, plan, shadow
           ) -> tuple[list[GateResult], Agreement]:
    step = StepWindow(provider, endpoint, candidate, window.candidate, window.serving, plan.min_requests)
    results = [gate.evaluate(step) for gate in gates]
    agreement = compare(window.pairs, shadow.tolerance)
    results.append(agreement_gate(agreement, shadow, plan.min_requests))
    return results, agreement


def _value_text(result: GateResult) -> str:
    if result.value is None:
        return result.detail
    if result.gate in ("agreement", "error_rate") or result.gate.endswith("_rate"):
        op = "<" if result.gate == "agreement" else ">"
        return f"{result.value:.2%} {op} {result.threshold:.2%} ({result.detail})"
    return f"{result.value:.3g} > {result.threshold:g} ({result.detail})"


# -- the shadow phase of a promotion ---------------------------------------------------------

#: The decision action of a shadow phase (its gates and metrics are in the decision).
SHADOW = "shadow"


def shadow_phase(executor: Any) -> Any:
    """Run ``executor``'s plan's shadow phase before its first step; None when the candidate passed.

    A refused candidate ends the rollout ``rolled_back`` with a ``shadow``
    decision carrying the gates' numbers; the split was never changed (no
    ``set_traffic`` call is made). A phase already passed (a resumed rollout) is
    not run again.
    """
    state, plan = executor.state, executor.plan
    if any(d["action"] == SHADOW and (d.get("metrics") or {}).get("passed") for d in state.decisions):
        return None
    def sample(window: ShadowWindow, gates: list[GateResult], agreement: Agreement) -> None:
        executor._emit("sample", -1, 0, new=window.candidate, baseline=window.serving, gates=tuple(gates))

    result = run_shadow(executor.provider, state.endpoint, state.to_version, plan, progress=executor.progress,
                        on_sample=sample, clock=executor.clock, sleep=executor.sleep)
    metrics = {**result.metrics, "agreement": result.agreement.to_dict() if result.agreement else None,
               "mirrored": result.mirrored, "dropped": result.dropped, "passed": result.passed}
    gates = [g.to_dict() for g in result.gates]
    if result.passed:
        executor._decide(SHADOW, -1, 0, f"shadow passed: {result.reason}", metrics, gates)
        return None
    reason = f"refused in shadow before any user traffic: {result.reason}"
    state.status, state.reason = ROLLED_BACK, reason
    executor._decide(SHADOW, -1, 0, reason, metrics, gates)
    return executor._result()
