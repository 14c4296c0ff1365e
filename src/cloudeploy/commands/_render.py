"""Rich renderings shared by the lifecycle commands."""

from __future__ import annotations

from typing import Any

from cloudeploy import lazy

rich_table = lazy.module("rich.table")


def endpoint_table(console: Any, endpoints: list[dict[str, Any]]) -> None:
    table = rich_table.Table(title="endpoints", title_justify="left")
    for column in ("endpoint", "provider", "state", "url", "version", "runtime", "traffic", "replicas", "scaling"):
        table.add_column(column)
    for endpoint in endpoints:
        deployments = endpoint["deployments"] or [None]
        for index, dep in enumerate(deployments):
            first = index == 0
            table.add_row(
                endpoint["name"] if first else "",
                endpoint["provider"] if first else "",
                _state(endpoint["state"]) if first else "",
                endpoint["url"] if first else "",
                dep["version"] if dep else "-",
                (dep.get("runtime") or "-") if dep else "-",
                f"{dep['traffic']}%" if dep else "-",
                str(dep["replicas"]) if dep else "-",
                f"{dep['scaling']['min_replicas']}..{dep['scaling']['max_replicas']}" if dep else "-",
            )
    console.print(table)


def _state(state: str) -> str:
    colour = {"serving": "green", "idle": "yellow", "stopped": "yellow", "failed": "red"}.get(state, "white")
    return f"[{colour}]{state}[/{colour}]"


def split_line(traffic: dict[str, int]) -> str:
    return ", ".join(f"{v}={p}%" for v, p in traffic.items()) or "(no traffic)"
