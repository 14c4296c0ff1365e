"""``cloudeploy shadow ENDPOINT --to VERSION --duration 10m``: judge a candidate on copies of live traffic.

The candidate (deployed with no traffic) receives copies of ``--share`` of the
serving version's live requests for ``--duration``; its answers are discarded
and compared with the serving version's. Prints each gate's numbers for both
versions and the agreement; the split never changes. Exit status: 0 when every
gate passed, 3 when one broke (or too little traffic came), the error's own
code otherwise (2 for bad input, 5 when the endpoint cannot shadow as it is).
``cloudeploy promote --shadow 10m`` runs the same phase before the first step.
"""

from __future__ import annotations

import sys

import click

from cloudeploy import lazy
from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options
from cloudeploy.commands._plan_flags import parse_gates, with_shadow
from cloudeploy.errors import RolledBack
from cloudeploy.providers import resolve_provider
from cloudeploy.rollout.plan import RolloutPlan
from cloudeploy.rollout.shadow import run_shadow

rich_table = lazy.module("rich.table")


@click.command()
@click.argument("endpoint")
@click.option("--to", "to", required=True, help="The candidate version (v3, 3 or an alias), deployed at 0%.")
@click.option("--duration", default=None, help="How long the candidate gets copies: 30s, 10m, 1h (default 10m).")
@click.option("--share", default=None, help="Share of live requests copied: 0.5 or 50% (default 100%).")
@click.option("--min-agreement", default=None, help="Least share of rows answered like the serving version (default 90%).")
@click.option("--tolerance", type=float, default=None,
              help="Regressors: relative error (absolute below 1) within which two answers agree (default 0.1).")
@click.option("--min-requests", type=int, default=None, help="Copied requests the candidate must answer (default 100).")
@click.option("--max-error-rate", default=None, help="Largest error share of the candidate: 0.01 or 1%.")
@click.option("--max-p99-ms", type=float, default=None, help="Largest p99 latency of the candidate (ms).")
@click.option("--max-p99-ratio", type=float, default=None, help="Largest candidate p99 relative to the serving version's.")
@click.option("--gate", "gates", multiple=True, metavar="NAME[:KEY=VALUE,...]", help="A registered gate (repeatable).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), default=None,
              help="A rollout plan file (.toml, .yaml) whose gates and [shadow] table apply; flags override it.")
@provider_options
@output_option
def shadow(endpoint, to, duration, share, min_agreement, tolerance, min_requests, max_error_rate, max_p99_ms,
           max_p99_ratio, gates, plan_file, provider, profile, output):
    """Give version --to copies of ENDPOINT's live requests and compare it with the serving version."""
    plan = RolloutPlan.from_file(plan_file) if plan_file else RolloutPlan()
    overrides = dict(min_requests=min_requests, max_error_rate=max_error_rate, max_p99_ms=max_p99_ms,
                     max_p99_ratio=max_p99_ratio)
    if gates:
        overrides["gates"] = {**plan.gates, **parse_gates(gates)}
    if plan.shadow is None and duration is None:
        duration = "10m"
    plan = with_shadow(plan.with_overrides(**overrides), duration, share, min_agreement, tolerance)
    backend = resolve_provider(provider, profile)
    result = run_shadow(backend, endpoint, to, plan, progress=progress_printer(output))
    emit(output, result.to_dict(), render_shadow)
    if not result.passed:
        sys.exit(RolledBack.exit_code)


def render_shadow(console, data) -> None:
    verdict = "[green]passed[/green]" if data["passed"] else "[red]refused[/red]"
    console.print(f"shadow {verdict}: [bold]{data['candidate']}[/bold] against {data['serving']} on "
                  f"[bold]{data['endpoint']}[/bold] ({data['share']:.0%} of requests copied: "
                  f"{data['mirrored']} sent, {data['dropped']} dropped)")
    console.print(f"  {data['reason']}")
    new, base = data["metrics"].get("new") or {}, data["metrics"].get("baseline") or {}
    table = rich_table.Table(show_edge=False)
    for column in ("", data["serving"] + " (serving)", data["candidate"] + " (candidate)"):
        table.add_column(column, justify="right" if column else "left")
    for key, label in (("requests", "requests"), ("input_errors", "4xx"), ("model_errors", "model errors"),
                       ("timeouts", "timeouts"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
        table.add_row(label, _cell(base.get(key)), _cell(new.get(key)))
    console.print(table)
    gates = rich_table.Table(show_edge=False)
    for column in ("gate", data["candidate"], data["serving"], "judged", "threshold", "verdict", "detail"):
        gates.add_column(column)
    for gate in data["gates"]:
        passed = gate["passed"]
        mark = "[green]pass[/green]" if passed else "[red]FAIL[/red]" if passed is False else "[dim]not judged[/dim]"
        gates.add_row(gate["gate"], _cell(gate.get("new")), _cell(gate.get("baseline")), _cell(gate["value"]),
                      _cell(gate["threshold"]), mark, gate.get("detail", ""))
    console.print(gates)
    console.print("traffic (unchanged): " + ", ".join(f"{v}={p}%" for v, p in data["traffic"].items()))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
