"""A rich live view of a running rollout: the step, the bake countdown, the gates.

Use it as the executor's ``on_event`` callback inside a ``with`` block::

    with LiveView(console) as view:
        run_promotion(provider, endpoint, to, plan, on_event=view)

The view redraws on its own (the countdown moves between events) from the
last event it was given; it never calls the provider.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cloudeploy import lazy

if TYPE_CHECKING:
    from rich.console import Console

    from cloudeploy.rollout.executor import RolloutEvent

rich_console = lazy.module("rich.console")
rich_live = lazy.module("rich.live")
rich_panel = lazy.module("rich.panel")
rich_table = lazy.module("rich.table")
rich_text = lazy.module("rich.text")

_ACTION_STYLE = {"rollback": "red", "promoted": "green", "proceed": "green", "interrupt": "yellow"}


class LiveView:
    """Renders the latest :class:`RolloutEvent`; callable, so it can be ``on_event``."""

    def __init__(self, console: Console, *, refresh_per_second: float = 4) -> None:
        self.console = console
        self.refresh_per_second = refresh_per_second
        self.event: RolloutEvent | None = None
        self._live: Any = None

    def __call__(self, event: RolloutEvent) -> None:
        if event.kind == "sample" or self.event is None or event.kind != "decision":
            self.event = event
        else:
            # A decision keeps the last gate readings on screen.
            self.event = _with_decision(self.event, event)
        if self._live is not None:
            self._live.refresh()

    def __enter__(self) -> LiveView:
        self._live = rich_live.Live(self, console=self.console,
                                    refresh_per_second=self.refresh_per_second, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        live, self._live = self._live, None
        live.__exit__(*exc_info)

    def __rich__(self) -> Any:
        event = self.event
        if event is None:
            return rich_text.Text("starting rollout …", style="dim")
        state, plan = event.state, event.plan
        lines: list[Any] = []
        split = ", ".join(f"{v}={p}%" for v, p in event.split.items())
        lines.append(rich_text.Text.assemble(
            (f"step {event.step + 1}/{len(plan.steps)}", "bold"),
            f"  {state.to_version} at {event.percent}%   ", (split, "cyan"),
        ))
        lines.append(rich_text.Text(self._countdown(event), style="yellow"))
        table = rich_table.Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        baseline_name = event.baseline.version if event.baseline is not None else "current"
        for column in ("gate", state.to_version, baseline_name, "judged", "threshold", ""):
            table.add_column(column)
        if event.new is not None:
            base_requests = str(event.baseline.requests) if event.baseline is not None else "–"
            table.add_row("requests", str(event.new.requests), base_requests, "", f"≥ {plan.min_requests}",
                          _mark(event.new.requests >= plan.min_requests or None))
        for result in event.gates:
            quantity = _QUANTITY.get(result.gate, result.gate)
            table.add_row(result.gate, _number(quantity, result.new), _number(quantity, result.baseline),
                          _number(result.gate, result.value), _number(result.gate, result.threshold),
                          _mark(result.passed))
        lines.append(table)
        for decision in state.decisions[-4:]:
            style = _ACTION_STYLE.get(decision["action"], "dim")
            lines.append(rich_text.Text(f"{decision['action']:>9}  {decision['reason']}", style=style))
        return rich_panel.Panel(rich_console.Group(*lines),
                                title=f"promote {state.to_version} on {state.endpoint}",
                                subtitle=state.status, expand=False)

    @staticmethod
    def _countdown(event: RolloutEvent) -> str:
        started = event.state.step_started_at
        if event.state.finished:
            return event.state.reason
        if started is None:
            return "applying split …"
        left = started + event.plan.bake_s - time.time()
        if left > 0:
            minutes, seconds = divmod(int(left + 0.999), 60)
            return f"baking: {minutes:d}:{seconds:02d} left"
        return "bake done: waiting for enough requests" if event.new is not None else "judging …"


def _with_decision(previous: RolloutEvent, decision: RolloutEvent) -> RolloutEvent:
    from dataclasses import replace

    if decision.step != previous.step:
        return replace(decision)
    return replace(previous, decision=decision.decision, state=decision.state)


def _mark(passed: bool | None) -> str:
    return {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "[dim]–[/dim]"}[passed]


#: What a gate's per-version numbers are, when that differs from what it judges (a ratio of latencies).
_QUANTITY = {"p50_ratio": "p50_ms", "p99_ratio": "p99_ms"}
_RATES = frozenset({"error_rate", "model_error_rate", "timeout_rate", "input_error_rate", "agreement"})


def _number(gate: str, value: float | None) -> str:
    if value is None:
        return "–"
    if gate in _RATES:
        return f"{value:.2%}"
    if gate in ("p50_ms", "p99_ms"):
        return f"{value:.1f} ms"
    if gate == "non_finite":
        return f"{value:g}"
    return f"{value:.3g}"
