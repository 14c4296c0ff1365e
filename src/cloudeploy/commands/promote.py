"""``cloudeploy promote ENDPOINT --to VERSION [plan flags]``.

With no plan flag (``--steps``, ``--bake``, ``--min-requests``, gate
thresholds, ``--plan``) traffic moves at once. With any of them the promotion
runs step by step behind gates (``cloudeploy.rollout``); flags override the
plan file's values. Exit status: 0 promoted, 3 rolled back (a gate broke),
130 interrupted (resumable), the error's own code otherwise.

Running the same command again after it was stopped (killed, Ctrl-C, an
error) resumes the recorded rollout; once the version serves 100% it changes
nothing. ``--resume`` continues a stopped rollout without restating its plan.

The rollout's state and the endpoint's lock live in the provider's state store
(docs/state.md), so ``--resume`` works from any machine with the profile (a CI
runner that is not the one that started it), and a promote from elsewhere is
refused while one runs, naming it. A lock left by a runner that is gone is
broken only on request: ``--break-lock`` (it says whose lock it broke and since
when it was held).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import click

from cloudeploy import api
from cloudeploy.commands._output import (
    emit,
    output_option,
    progress_printer,
    provider_options,
    stderr_console,
)
from cloudeploy.commands._plan_flags import parse_gates, with_shadow
from cloudeploy.commands._render import split_line
from cloudeploy.commands.traffic import lock_aware_progress
from cloudeploy.errors import CloudeployError, RolledBack, ValidationError
from cloudeploy.providers import state_store
from cloudeploy.rollout.dry_run import describe_rollout
from cloudeploy.rollout.live import LiveView
from cloudeploy.rollout.plan import RolloutPlan
from cloudeploy.rollout.state import INTERRUPTED, store_for

EXIT_INTERRUPTED = 130


@click.command()
@click.argument("endpoint")
@click.option("--to", "to", default=None, help="The version to promote (v3, 3 or an alias).")
@click.option("--steps", default=None, help="Percent of traffic per step, e.g. 5,25,50,100.")
@click.option("--bake", default=None, help="Time each step serves before it is judged: 500ms, 30s, 10m, 1h.")
@click.option("--min-requests", type=int, default=None, help="Requests the new version must see per step.")
@click.option("--max-wait", default=None, help="How long a step may wait for --min-requests (default 3 bakes).")
@click.option("--max-error-rate", default=None,
              help="Largest share of server-side errors (model errors + timeouts, 5xx) of the new version: 0.01 or 1%.")
@click.option("--max-model-error-rate", default=None, help="Largest share of model errors of the new version.")
@click.option("--max-timeout-rate", default=None, help="Largest share of timeouts of the new version.")
@click.option("--max-input-error-rate", default=None, help="Largest share of 4xx (input errors) of the new version.")
@click.option("--input-error-margin", default=None,
              help="Fail when the new version's 4xx share is clearly above the current one's by more than this "
                   "(default 2%; 'off' to disable).")
@click.option("--max-prediction-shift", type=float, default=None,
              help="Largest Jensen–Shannon divergence (0..1) between the two versions' live predictions, e.g. 0.1.")
@click.option("--max-p50-ms", type=float, default=None, help="Largest p50 latency of the new version (ms).")
@click.option("--max-p50-ratio", type=float, default=None,
              help="Largest p50 of the new version relative to the current one (e.g. 2).")
@click.option("--allow-non-finite", is_flag=True, default=False,
              help="Do not fail the new version on NaN/inf predictions (they still count as model errors).")
@click.option("--max-p99-ms", type=float, default=None, help="Largest p99 latency of the new version (ms).")
@click.option("--max-p99-ratio", type=float, default=None,
              help="Largest p99 of the new version relative to the current one (e.g. 1.5).")
@click.option("--max-drift", type=float, default=None,
              help="Largest skew of any feature in the new version's traffic (0..1), e.g. 0.3.")
@click.option("--gate", "gates", multiple=True, metavar="NAME[:KEY=VALUE,...]",
              help="A registered gate and its settings, e.g. drift:max=0.3 (repeatable).")
@click.option("--shadow", "shadow", default=None, metavar="DURATION",
              help="First give the version copies of live requests for DURATION (e.g. 10m); refused = exit 3, no user saw it.")
@click.option("--shadow-share", default=None, help="Share of live requests copied in the shadow phase: 0.5 or 50%.")
@click.option("--min-agreement", default=None, help="Shadow: least share of rows answered like the serving version.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None,
              help="A rollout plan file (.toml, .yaml); flags override its values.")
@click.option("--native", is_flag=True, help="SageMaker: run the plan as the service's blue/green deployment.")
@click.option("--resume", is_flag=True, help="Continue a stopped rollout from its recorded step (so does running the same command again).")
@click.option("--break-lock", is_flag=True,
              help="First break the endpoint's lock if another runner holds it (one that is gone: a killed CI job).")
@click.option("--dry-run", is_flag=True, help="Print the plan as it would run, change nothing.")
@click.option("--live/--no-live", default=None, help="Live view (default: when stderr is a terminal).")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for each traffic change.")
@provider_options
@output_option
def promote(endpoint, to, steps, bake, min_requests, max_wait, max_error_rate, max_p99_ms, max_p99_ratio,
            max_drift, gates, shadow, shadow_share, min_agreement, plan_file, native, resume, dry_run, live, timeout, provider, profile, output,
            break_lock=False, **gate_flags):
    """Move ENDPOINT's traffic to version --to, at once or step by step with guardrails."""
    if max_drift is not None:
        gates = (*gates, f"drift:max={max_drift}")
    overrides = dict(steps=steps, bake_s=bake, min_requests=min_requests, max_wait_s=max_wait,
                     max_error_rate=max_error_rate, max_p99_ms=max_p99_ms, max_p99_ratio=max_p99_ratio,
                     **_gate_overrides(gate_flags))
    shadow_flags = (shadow, shadow_share, min_agreement)
    wants_plan = (plan_file is not None or bool(gates) or any(v is not None for v in overrides.values())
                  or any(v is not None for v in shadow_flags))
    if resume and (wants_plan or native):
        raise ValidationError("--resume continues with the stopped rollout's own plan; drop the plan flags")
    if not resume and to is None:
        raise ValidationError("say which version to promote: --to VERSION")
    plan = None
    if wants_plan or native:
        plan = RolloutPlan.from_file(plan_file) if plan_file else RolloutPlan()
        if gates:
            overrides["gates"] = {**plan.gates, **parse_gates(gates)}
        plan = plan.with_overrides(**overrides)
        if any(v is not None for v in shadow_flags):  # shadow phase (commands/shadow.py)
            plan = with_shadow(plan, *shadow_flags)
        if native and plan.shadow is not None:
            raise ValidationError("a shadow phase runs client-side: drop --native, or drop --shadow")
    backend = api.resolve_provider(provider, profile)
    if dry_run:
        _dry_run(backend, endpoint, to, plan, native, output)
        return
    if plan is None and not resume:
        _promote_now(backend, endpoint, to, timeout, output, break_lock)
        return
    _promote_stepwise(backend, endpoint, to, plan, resume, native, live, timeout, output, break_lock)


def _gate_overrides(flags: dict) -> dict[str, object]:
    """Plan fields from the comparative-gate flags (None: not given; 'off' turns a gate off)."""
    values = {name: flags.get(name) for name in (
        "max_model_error_rate", "max_timeout_rate", "max_input_error_rate", "max_prediction_shift",
        "max_p50_ms", "max_p50_ratio", "input_error_margin")}
    values["fail_on_non_finite"] = False if flags.get("allow_non_finite") else None
    return values


def _promote_now(backend, endpoint, to, timeout, output, break_lock=False):
    status = backend.get_endpoint(endpoint)
    version = backend.get_model_version(status.model, to).version
    status = api.promote(endpoint, version, provider=backend, timeout=timeout,
                             progress=lock_aware_progress(output), break_lock=break_lock)

    def render(console, data):
        console.print(f"[green]promoted[/green] {version} on [bold]{endpoint}[/bold]: {split_line(data['traffic'])}")

    emit(output, status.to_dict(), render)


def _promote_stepwise(backend, endpoint, to, plan, resume, native, live, timeout, output, break_lock=False):
    console = stderr_console()
    use_live = (console.is_terminal if live is None else live) and output != "json" and not native
    kwargs = dict(plan=plan, resume=resume, native=native, provider=backend, timeout=timeout, break_lock=break_lock)
    try:
        with _sigterm_as_interrupt():
            result = _run(endpoint, to, kwargs, use_live, console, output)
    except KeyboardInterrupt:
        _interrupted(backend, endpoint, output, timeout)
        return
    except CloudeployError:
        if not native and _stopped_here(backend, endpoint):
            console.print(f"[yellow]the rollout on {endpoint} stopped[/yellow]; once the cause is fixed, run the same "
                          f"command again (or cloudeploy promote {endpoint} --resume)   or undo it: "
                          f"cloudeploy rollback {endpoint}", soft_wrap=True)
        raise
    emit(output, result.to_dict(), _render_result)
    if result.rolled_back:
        sys.exit(RolledBack.exit_code)


def _run(endpoint, to, kwargs, use_live, console, output):
    if use_live:
        with LiveView(console) as view:
            return api.promote(endpoint, to, on_event=view, progress=lock_aware_progress(output, others=False),
                               **kwargs)
    return api.promote(endpoint, to, progress=lock_aware_progress(output), **kwargs)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Treat SIGTERM (a cancelled CI job) like Ctrl-C, so the rollout is saved as interrupted."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interactive() -> bool:
    """Whether a person can answer a question on stdin."""
    return sys.stdin.isatty()


def _stopped_here(backend, endpoint) -> bool:
    """Whether this process left a stopped rollout behind (as opposed to being refused one)."""
    state = store_for(backend, endpoint).load()
    return (state is not None and state.status == INTERRUPTED and state.pid == os.getpid()
            and state.host == state_store.host_name())


def _interrupted(backend, endpoint, output, timeout):
    """After Ctrl-C: offer to roll back now or leave the rollout for ``--resume``."""
    console = stderr_console()
    console.print(f"[yellow]promotion of {endpoint} interrupted[/yellow]; traffic stays where it was.")
    if output != "json" and _interactive():
        try:
            roll_back = click.confirm("Roll back to the split it started from now?", default=False, err=True)
        except (click.Abort, KeyboardInterrupt):
            roll_back = False
        if roll_back:
            status = api.rollback(endpoint, provider=backend, timeout=timeout, progress=progress_printer(output))
            console.print(f"rolled back {endpoint}: " + ", ".join(f"{v}={p}%" for v, p in status.traffic.items()))
            sys.exit(EXIT_INTERRUPTED)
    console.print(f"resume by running the same command again (or cloudeploy promote {endpoint} --resume)   "
                  f"or undo with: cloudeploy rollback {endpoint}", soft_wrap=True)
    sys.exit(EXIT_INTERRUPTED)


def _dry_run(backend, endpoint, to, plan, native, output):
    data = describe_rollout(backend, endpoint, to, plan, native=native)

    def render(console, data):
        console.print(f"[bold]promote {data['version']} on {data['endpoint']}[/bold] (dry run: nothing changes)")
        console.print("from: " + _split(data["from_split"]))
        for number, step in enumerate(data["steps"], 1):
            bake = f", bake {step['bake']}" if step["bake"] else ""
            console.print(f"  {number}. {_split(step['split'])}{bake}")
        for line in data["checks"]:
            console.print(f"  {line}")
        if data.get("native"):
            console.print("SageMaker request:")
            console.print_json(data=data["native"])

    emit(output, data, render)


def _render_result(console, data):
    outcome = data["outcome"]
    color = "green" if outcome == "promoted" else "red"
    console.print(f"[{color}]{outcome.replace('_', ' ')}[/{color}] {data['version']} on "
                  f"[bold]{data['endpoint']}[/bold]: {_split(data['traffic'])}")
    if data.get("reason"):
        console.print(f"  {data['reason']}")
    for decision in data["decisions"]:
        console.print(f"  [dim]{decision['action']:>9} {decision['percent']:>3}%[/dim]  {decision['reason']}")
        for gate in decision.get("gates") or ():
            console.print(f"              {_gate_line(gate)}")


def _gate_line(gate):
    """``error_rate: 0.012 (baseline 0.001) vs 0.05 ✓`` — the numbers a gate judged."""
    mark = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]not judged[/dim]"}[gate.get("passed")]
    value = "-" if gate.get("value") is None else f"{gate['value']:.4g}"
    baseline = gate.get("baseline")
    against = f" (baseline {baseline:.4g})" if isinstance(baseline, (int, float)) else ""
    detail = f"  [dim]{gate['detail']}[/dim]" if gate.get("passed") is None and gate.get("detail") else ""
    return f"{gate['gate']}: {value}{against} vs {gate['threshold']:g} {mark}{detail}"


def _split(split):
    return ", ".join(f"{v}={p}%" for v, p in split.items()) or "(empty)"
