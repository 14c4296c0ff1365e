"""The client-side rollout executor: set the split, bake, judge, go on or roll back.

Provider-agnostic: it uses only ``get_endpoint``, ``set_traffic`` and
``version_metrics`` of the provider contract. For each step it

1. records the step in the state store, then applies the step's split;
2. bakes: every poll it reads the new and the current version's metrics for
   the window since the split was in place and runs the gates; a broken gate
   (once ``min_requests`` were seen) rolls back at once, without waiting for
   the bake to end;
3. after the bake, with ``min_requests`` seen and no broken gate, goes on.

Rolling back sets the split the rollout started from. Every decision lands in
the decision log with the numbers it was based on, and the state is saved at
every transition, so a process killed at any point leaves a rollout that
``resume`` continues from its recorded step (the bake window keeps its start)
and that ``rollback_stopped`` undoes. Running the same promotion again (same
version, same plan) resumes it too; another promotion is refused meanwhile.

Crash-resume: the step boundaries are marked with
:func:`~cloudeploy.crashpoints.crash_point` (``promote.after_record_step``,
``promote.after_set_traffic``, ``promote.after_judge``,
``promote.before_final_traffic``, ``promote.after_final_traffic``,
``promote.before_rollback_traffic``, ``promote.after_rollback_traffic``,
``promote.after_finish``). A resumed run applies the recorded step's split
again (``set_traffic`` converges and is a no-op where the split was applied in
full: the killed process may have died inside it) and goes on after a step
already judged; a run after the rollout ended changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import (
    CloudeployError,
    ConflictError,
    NotFoundError,
    ProviderError,
    TransientError,
    ValidationError,
)
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.state_store import LockLost, host_name
from cloudeploy.rollout import result as actions
from cloudeploy.rollout.endpoint import record_change, served_split
from cloudeploy.rollout.gates import GateResult, StepWindow, build_gates
from cloudeploy.rollout.plan import RolloutPlan, format_duration
from cloudeploy.rollout.result import Decision, PromotionResult
from cloudeploy.rollout.shadow import shadow_phase
from cloudeploy.rollout.state import (
    INTERRUPTED,
    PROMOTED,
    ROLLED_BACK,
    ROLLING_BACK,
    RUNNING,
    RolloutState,
    RolloutStore,
    store_for,
)
from cloudeploy.types import TrafficSplit, normalize_version

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider, VersionMetrics
    from cloudeploy.types import EndpointStatus

#: Seconds between heartbeat saves of the state while a step bakes.
HEARTBEAT_S = 2.0
#: Consecutive transient failures reading metrics before a rollout stops (resumable).
MAX_FAILED_READS = 5


@dataclass(frozen=True)
class RolloutEvent:
    """What the executor is doing now, for live views (``state`` is a snapshot).

    ``kind`` is ``step`` (a split was applied), ``sample`` (gates read during a
    bake), ``decision`` (a decision was logged) or ``done``.
    """

    kind: str
    state: RolloutState
    plan: RolloutPlan
    step: int
    percent: int
    split: dict[str, int]
    new: VersionMetrics | None = None
    baseline: VersionMetrics | None = None
    gates: tuple[GateResult, ...] = ()
    decision: Decision | None = None
    at: float = field(default_factory=time.time)


EventCallback = Callable[[RolloutEvent], None]


def _no_events(event: RolloutEvent) -> None:
    pass


def step_split(from_split: TrafficSplit, version: str, percent: int) -> TrafficSplit:
    """``from_split`` with ``version`` at ``percent`` and the others shrunk proportionally."""
    return from_split.with_new_version(version, percent)


def baseline_version(from_split: dict[str, int], version: str) -> str | None:
    """The version the new one is compared with: the largest share of the starting split."""
    others = [(p, v) for v, p in from_split.items() if v != version and p > 0]
    return max(others)[1] if others else None


class RolloutExecutor:
    """Runs one rollout of ``state.to_version`` on ``state.endpoint``.

    The caller holds ``store``'s lock for the whole run (see :func:`run_promotion`).
    ``clock`` gives wall-clock seconds (metrics windows are wall-clock) and
    ``sleep`` waits; both are injectable for tests.
    """

    def __init__(
        self,
        provider: Provider,
        state: RolloutState,
        store: RolloutStore,
        *,
        progress: ProgressCallback = no_progress,
        on_event: EventCallback = _no_events,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.provider = provider
        self.state = state
        self.store = store
        self.plan = RolloutPlan.from_dict(state.plan)
        self.gates = build_gates(self.plan)
        self.progress = progress
        self.on_event = on_event
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.from_split = TrafficSplit(state.from_split)
        self.baseline = baseline_version(state.from_split, state.to_version)

    # -- the run ----------------------------------------------------------------

    def run(self) -> PromotionResult:
        """Go through the remaining steps; return the outcome.

        On KeyboardInterrupt or any error the state is saved as ``interrupted``
        (resumable) and the exception propagates. A rollout stopped while it was
        rolling back stays ``rolling_back``: running it again finishes the rollback.
        """
        state = self.state
        if state.status == ROLLING_BACK:
            return self._roll_back(state.step_index, self._percent(state.step_index),
                                   f"{state.reason} (finished after a restart)", {}, [])
        state.status, state.pid, state.host = RUNNING, os.getpid(), host_name()
        self._save()
        try:
            if self.plan.shadow is not None and state.step_index < 0:  # shadow phase (rollout/shadow.py)
                refused = shadow_phase(self)
                if refused is not None:
                    return refused
            for index in range(self._first_open_step(), len(self.plan.steps)):
                percent = self.plan.steps[index]
                if percent <= self.from_split.get(state.to_version, 0) and percent < 100:
                    continue  # the version already had that much when we started
                self._apply_step(index, percent)
                if percent == 100 and not self.plan.final_bake:
                    break
                verdict = self._bake(index, percent)
                if verdict is not None:
                    return self._roll_back(index, percent, *verdict)
                if percent < 100:
                    self._decide(actions.PROCEED, index, percent, "gates passed", *self._last_reading)
                    crash_point("promote.after_judge")
            return self._finish_promoted()
        except LockLost:
            raise  # another process owns the endpoint now: write nothing more
        except BaseException as error:
            if state.status == RUNNING:
                state.status = INTERRUPTED
            if not state.finished:
                why = "interrupted (Ctrl-C)" if isinstance(error, KeyboardInterrupt) else f"stopped by an error: {error}"
                if state.status == INTERRUPTED:
                    state.reason = why
                self._decide(actions.INTERRUPT, state.step_index, self._percent(state.step_index), why)
            raise

    def _first_open_step(self) -> int:
        """The step to go on from: the recorded one, or the next if it was already judged passed."""
        index = max(self.state.step_index, 0)
        judged = [d for d in self.state.decisions if d["action"] not in (actions.RESUME, actions.INTERRUPT)]
        if judged and judged[-1]["action"] == actions.PROCEED and judged[-1]["step"] == index:
            return index + 1  # killed between the verdict and the next step: do not bake it again
        return index

    def _apply_step(self, index: int, percent: int) -> None:
        state = self.state
        split = step_split(self.from_split, state.to_version, percent)
        resuming = state.step_index == index and state.step_started_at is not None
        if not resuming:
            state.step_index, state.step_started_at = index, None
            self._save()
            crash_point("promote.after_record_step")
        self.progress(f"step {index + 1}/{len(self.plan.steps)}: {state.to_version} at {percent}%")
        if percent == 100:
            crash_point("promote.before_final_traffic")
        self._check_traffic_untouched(split)
        record_change(self.provider, state.endpoint, self.from_split, by=f"promote {state.to_version}")
        self.provider.set_traffic(state.endpoint, split, timeout=self.timeout, progress=self.progress)
        crash_point("promote.after_final_traffic" if percent == 100 else "promote.after_set_traffic")
        if not resuming:
            state.step_started_at = self.clock()
            self._decide(actions.STEP, index, percent, f"traffic set to {_split_text(split)}")
        self._emit("step", index, percent)

    def _bake(self, index: int, percent: int) -> tuple[str, dict, list] | None:
        """Bake step ``index``; None if it passed, else ``(reason, metrics, gates)``."""
        plan, state = self.plan, self.state
        start = state.step_started_at or self.clock()
        bake_end, wait_end = start + plan.bake_s, start + plan.wait_limit_s
        interval = min(5.0, max(0.2, plan.bake_s / 10))
        failed_reads = 0
        while True:
            now = self.clock()
            try:
                new, base, results = self._read(start, now)
            except TransientError as error:
                # A throttled or flaky metrics read must not end a rollout; a lasting one does.
                failed_reads += 1
                if failed_reads >= MAX_FAILED_READS:
                    raise
                self.progress(f"reading metrics failed ({error}); retrying")
                self.sleep(interval)
                continue
            failed_reads = 0
            self._last_reading = (_metrics_dict(new, base), [r.to_dict() for r in results])
            if time.monotonic() - self._saved_at >= HEARTBEAT_S:
                self._save()
            self._emit("sample", index, percent, new=new, baseline=base, gates=tuple(results))
            enough = new.requests >= plan.min_requests
            broken = [r for r in results if r.passed is False]
            if enough and broken:
                reason = "; ".join(f"{r.gate} broke: {_value_text(r)}" for r in broken)
                return reason, *self._last_reading
            if enough and now >= bake_end:
                return None
            if now >= wait_end:
                reason = (f"not enough traffic: {new.requests} of {plan.min_requests} requests to "
                          f"{state.to_version} within {format_duration(plan.wait_limit_s)}")
                return reason, *self._last_reading
            self.sleep(max(0.0, min(interval, (bake_end if now < bake_end else wait_end) - now)))

    def _read(self, start: float, now: float) -> tuple[VersionMetrics, VersionMetrics | None, list[GateResult]]:
        state = self.state
        new = self.provider.version_metrics(state.endpoint, state.to_version, since=start, until=now)
        base = (
            self.provider.version_metrics(state.endpoint, self.baseline, since=start, until=now)
            if self.baseline else None
        )
        window = StepWindow(self.provider, state.endpoint, state.to_version, new, base, self.plan.min_requests)
        return new, base, [gate.evaluate(window) for gate in self.gates]

    def _check_traffic_untouched(self, about_to_set: TrafficSplit) -> None:
        """Refuse to go on if the endpoint's lock was broken, or its split is not one this rollout set.

        The endpoint's lock keeps cloudeploy commands out while a promote runs;
        this catches a change made around it (the cloud console, another tool,
        a broken lock), so that the next step never silently undoes it: the
        rollout stops (interrupted, resumable) and says what it found.
        """
        self.store.check_lock()
        state = self.state
        applied = [d["split"] for d in state.decisions if d["action"] == actions.STEP]
        expected = [applied[-1] if applied else state.from_split, about_to_set.to_dict()]
        if state.status == ROLLING_BACK:
            expected.extend(applied)
        now = self.provider.get_endpoint(state.endpoint).traffic.to_dict()
        if any(served_split(now) == served_split(split) for split in expected):
            return
        raise ConflictError(
            f"traffic on {state.endpoint} was changed outside this promote (now {_split_text(served_split(now))}, "
            f"this rollout last set {_split_text(served_split(expected[0]))}); the promote ends here without "
            f"touching traffic",
            hint=f"keep the change and drop the rollout: cloudeploy promote {state.endpoint} --to VERSION anew; "
                 f"or continue it anyway (undoing the change): cloudeploy promote {state.endpoint} --resume",
        )

    # -- endings ----------------------------------------------------------------

    def _roll_back(self, index: int, percent: int, reason: str, metrics: dict, gates: list) -> PromotionResult:
        self.progress(f"rolling back: {reason}")
        self.state.status, self.state.reason = ROLLING_BACK, reason
        self._save()  # decided: a restart from here finishes the rollback, never the rollout
        crash_point("promote.before_rollback_traffic")
        self._check_traffic_untouched(self.from_split)
        self.provider.set_traffic(self.state.endpoint, self.from_split, timeout=self.timeout, progress=self.progress)
        crash_point("promote.after_rollback_traffic")
        self.state.status, self.state.reason = ROLLED_BACK, reason
        self._decide(actions.ROLLBACK, index, percent, reason, metrics, gates, split=self.from_split.to_dict())
        return self._result()

    def _finish_promoted(self) -> PromotionResult:
        state = self.state
        last = len(self.plan.steps) - 1
        reason = f"{state.to_version} serves 100% after {len(self.plan.steps)} step(s)"
        state.status, state.reason = PROMOTED, reason
        metrics, gates = getattr(self, "_last_reading", ({}, []))
        self._decide(actions.PROMOTED, last, 100, reason, metrics, gates)
        return self._result()

    def _result(self) -> PromotionResult:
        crash_point("promote.after_finish")
        state = self.state
        traffic = self.provider.get_endpoint(state.endpoint).traffic.to_dict()
        self._emit("done", state.step_index, self._percent(state.step_index))
        return result_of(state, traffic)

    # -- bookkeeping ------------------------------------------------------------

    def _decide(self, action: str, index: int, percent: int, reason: str,
                metrics: dict | None = None, gates: list | None = None, *, split: dict | None = None) -> None:
        state = self.state
        if split is None:
            split = step_split(self.from_split, state.to_version, percent).to_dict() if index >= 0 else state.from_split
        decision = Decision(action, index, percent, split, reason, self.clock(), metrics or {}, gates or [])
        state.decisions.append(decision.to_dict())
        self._save()
        self.progress(f"{action}: {reason}")
        self._emit("decision", index, percent, decision=decision)

    def _save(self) -> None:
        self.state.heartbeat = self.clock()
        self.store.save(self.state)
        self._saved_at = time.monotonic()

    def _percent(self, index: int) -> int:
        return self.plan.steps[index] if 0 <= index < len(self.plan.steps) else 0

    def _emit(self, kind: str, index: int, percent: int, **extra: Any) -> None:
        split = step_split(self.from_split, self.state.to_version, percent).to_dict() if index >= 0 else {}
        snapshot = replace(self.state, decisions=list(self.state.decisions))
        self.on_event(RolloutEvent(kind, snapshot, self.plan, index, percent, split, **extra))

    _last_reading: tuple[dict, list] = ({}, [])
    _saved_at: float = 0.0


def result_of(state: RolloutState, traffic: dict[str, int]) -> PromotionResult:
    """The :class:`PromotionResult` a finished ``state`` stands for."""
    return PromotionResult(
        endpoint=state.endpoint,
        version=state.to_version,
        outcome=state.status,
        from_split=dict(state.from_split),
        traffic=dict(traffic),
        decisions=tuple(Decision.from_dict(d) for d in state.decisions),
        plan=dict(state.plan),
        reason=state.reason,
    )


# -- entry points -----------------------------------------------------------------


def run_promotion(
    provider: Provider,
    endpoint: str,
    to: str | None,
    plan: RolloutPlan | None = None,
    *,
    resume: bool = False,
    progress: ProgressCallback = no_progress,
    on_event: EventCallback = _no_events,
    timeout: float | None = None,
    store: RolloutStore | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    break_lock: bool = False,
) -> PromotionResult:
    """Promote ``to`` on ``endpoint`` step by step under ``plan``, or ``resume`` a stopped rollout.

    Returns a result whose ``outcome`` is ``promoted`` or ``rolled_back`` (a
    rolled-back promotion is an answer, not an exception; the CLI maps it to
    exit status 3). Running the same promotion again converges:

    - a stopped rollout (killed, Ctrl-C, an error) of the same version under
      the same plan is resumed from its recorded step, as with ``resume``;
    - if ``to`` already serves 100% of the endpoint, nothing changes and the
      result says ``promoted``.

    The run holds the endpoint's lock (:mod:`cloudeploy.rollout.endpoint`)
    throughout, wherever it runs; state lives in the provider's state store,
    so ``resume`` works from any machine with the profile. Raises
    ConflictError (LockHeld) naming the holder if another process holds the
    endpoint; ``break_lock`` breaks such a lock first (the holder is reported
    through ``progress``). Also ConflictError if a stopped rollout of another
    version or plan exists (resume it or roll it back first);
    ValidationError/NotFoundError for a bad version or plan. On Ctrl-C or an
    error the rollout is left ``interrupted`` and resumable.
    """
    store = store or store_for(provider, endpoint)
    plan = plan or RolloutPlan()
    purpose = "promote (resume)" if resume and not to else f"promote {to}"
    with store.locked(purpose, break_lock=break_lock, progress=progress):
        previous = store.load()
        if resume:
            state = _resumable(previous, endpoint, to)
        else:
            status = provider.get_endpoint(endpoint)
            version = _deployed_version(provider, status, to)
            if previous is not None and not previous.finished:
                _check_same_rollout(previous, endpoint, version, plan)
                state, resume = previous, True
            elif status.traffic.get(version, 0) == 100:
                return _already_promoted(previous, status, version, plan)
            else:
                state = _new_state(provider, status, version, plan)
                _check_metrics(provider, endpoint, state.to_version, clock())
        executor = RolloutExecutor(provider, state, store, progress=progress, on_event=on_event,
                                   timeout=timeout, clock=clock, sleep=sleep)
        if resume:
            executor._decide(actions.RESUME, state.step_index, executor._percent(state.step_index),
                             f"resumed by pid {os.getpid()} on {host_name()}")
        return executor.run()


def _deployed_version(provider: Provider, status: EndpointStatus, to: str | None) -> str:
    """The version label ``to`` names (an alias resolves), refused unless deployed on the endpoint."""
    if not to:
        raise ValidationError("say which version to promote (--to VERSION)")
    version = provider.get_model_version(status.model, to).version
    if status.deployment(version) is None:
        deployed = ", ".join(d.version for d in status.deployments) or "none"
        raise NotFoundError(
            f"{version} is not deployed on {status.name} (deployed: {deployed})",
            hint=f"deploy it with no traffic first: cloudeploy deploy MODEL --endpoint {status.name} --traffic 0",
        )
    return version


def _new_state(provider: Provider, status: EndpointStatus, version: str, plan: RolloutPlan) -> RolloutState:
    from_split = status.traffic.to_dict()
    if not from_split or sum(from_split.values()) != 100:
        raise ConflictError(f"endpoint {status.name} serves no traffic; there is nothing to promote from")
    return RolloutState(endpoint=status.name, provider=provider.name, to_version=version,
                        plan=plan.to_dict(), from_split=from_split)


def _check_same_rollout(previous: RolloutState, endpoint: str, version: str, plan: RolloutPlan) -> None:
    """Refuse to start a promotion while a stopped one of another version or plan is recorded."""
    other = []
    if previous.to_version != version:
        other.append(f"promotes {previous.to_version}, not {version}")
    recorded = RolloutPlan.from_dict(previous.plan)
    if recorded.to_dict() != plan.to_dict():
        steps = ",".join(str(s) for s in recorded.steps)
        other.append(f"runs another plan (steps {steps}, bake {format_duration(recorded.bake_s)}, ...)")
    if other:
        raise ConflictError(
            f"a stopped rollout on {endpoint} ({previous.status} at step {previous.step_index + 1}) "
            f"{' and '.join(other)}",
            hint=f"continue it with: cloudeploy promote {endpoint} --resume; "
                 f"or undo it with: cloudeploy rollback {endpoint}",
        )


def _already_promoted(previous: RolloutState | None, status: EndpointStatus, version: str,
                      plan: RolloutPlan) -> PromotionResult:
    """The answer for a version that serves 100% already: the rollout that got it there, if recorded."""
    traffic = status.traffic.to_dict()
    if previous is not None and previous.status == PROMOTED and previous.to_version == version:
        return result_of(previous, traffic)
    return PromotionResult(endpoint=status.name, version=version, outcome=PROMOTED, from_split=traffic,
                           traffic=traffic, decisions=(), plan=plan.to_dict(),
                           reason=f"{version} already serves 100% of {status.name}; nothing changed")


def _check_metrics(provider: Provider, endpoint: str, version: str, now: float) -> None:
    """Refuse, before any traffic moves, a provider that cannot report the metrics gates need."""
    try:
        provider.version_metrics(endpoint, version, since=now - 1, until=now)
    except TransientError:
        pass  # may well work in a moment; the bake retries
    except CloudeployError as error:
        raise ProviderError(
            f"cannot run a gated rollout on {endpoint}: {error.message}",
            hint="promote without a plan (immediate), or on SageMaker use --native",
        ) from None


def _resumable(previous: RolloutState | None, endpoint: str, to: str | None) -> RolloutState:
    if previous is None or previous.finished:
        what = "no rollout was recorded" if previous is None else f"the last rollout {previous.status.replace('_', ' ')}"
        raise ConflictError(f"nothing to resume on {endpoint}: {what}")
    if to is not None and normalize_version_or_none(to) not in (previous.to_version, None):
        raise ValidationError(
            f"the stopped rollout on {endpoint} promotes {previous.to_version}, not {to}",
            hint="drop --to with --resume, or roll the stopped rollout back first",
        )
    return previous


def normalize_version_or_none(version: str) -> str | None:
    try:
        return normalize_version(version)
    except ValidationError:
        return None  # an alias: the stored rollout names the version it resolved to


def rollback_stopped(
    provider: Provider,
    endpoint: str,
    *,
    progress: ProgressCallback = no_progress,
    timeout: float | None = None,
    store: RolloutStore | None = None,
    break_lock: bool = False,
) -> PromotionResult | None:
    """Undo the endpoint's rollout if one is stopped (or ended promoted and still
    serves the promoted split): set its starting split and record the decision.

    Returns None when there is no such rollout (the caller falls back to the
    provider's previous split). ConflictError (LockHeld) naming the holder if
    another process holds the endpoint (a promote running right now), unless
    ``break_lock``.
    """
    store = store or store_for(provider, endpoint)
    state = store.load()
    if state is None or state.status == ROLLED_BACK:
        return None
    with store.locked("rollback", break_lock=break_lock, progress=progress):
        state = store.load()
        if state is None or state.status == ROLLED_BACK:
            return None
        current = provider.get_endpoint(endpoint).traffic.to_dict()
        if state.status == PROMOTED:
            final = TrafficSplit(state.from_split).with_new_version(state.to_version, 100).to_dict()
            if served_split(current) != served_split(final):
                return None  # traffic moved on since the promotion: not ours to undo
        from_split = TrafficSplit(state.from_split)
        progress(f"rolling back the rollout of {state.to_version}: {_split_text(from_split)}")
        provider.set_traffic(endpoint, from_split, timeout=timeout, progress=progress)
        was = state.status
        state.status, state.reason = ROLLED_BACK, f"rolled back by request ({was} at step {state.step_index + 1})"
        decision = Decision(actions.ROLLBACK, state.step_index, 0, from_split.to_dict(), state.reason)
        state.decisions.append(decision.to_dict())
        state.pid, state.host = os.getpid(), host_name()
        store.save(state)
        return result_of(state, provider.get_endpoint(endpoint).traffic.to_dict())


def _metrics_dict(new: VersionMetrics, base: VersionMetrics | None) -> dict[str, Any]:
    return {"new": metrics_record(new), "baseline": metrics_record(base) if base else None}


def metrics_record(metrics: VersionMetrics) -> dict[str, Any]:
    """``metrics.to_dict()`` for the decision log: a regressor's value sample becomes a summary."""
    data = metrics.to_dict()
    values = data.pop("prediction_values", None)
    if values is not None:
        finite = sorted(v for v in values if v == v and abs(v) != float("inf"))
        data["prediction_values"] = {
            "count": len(values),
            "mean": sum(finite) / len(finite) if finite else None,
            "p05": finite[int(0.05 * (len(finite) - 1))] if finite else None,
            "p50": finite[int(0.5 * (len(finite) - 1))] if finite else None,
            "p95": finite[int(0.95 * (len(finite) - 1))] if finite else None,
        }
    else:
        data["prediction_values"] = None
    return data


#: Gates whose numbers are shares (printed as percents).
RATE_GATES = frozenset({"error_rate", "model_error_rate", "timeout_rate", "input_error_rate"})


def _value_text(result: GateResult) -> str:
    if result.gate in RATE_GATES:
        text = f"{result.value:.2%} > {result.threshold:.2%}"
        if result.gate == "input_error_rate":
            text = f"{result.new:.2%} vs {result.baseline:.2%}" if result.baseline is not None else f"{result.new:.2%}"
        return f"{text} ({result.detail})"
    return f"{result.value:.3g} > {result.threshold:g} ({result.detail})"


def _split_text(split: TrafficSplit | dict[str, int]) -> str:
    return ", ".join(f"{v}={p}%" for v, p in dict(split).items())
