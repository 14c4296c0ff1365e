"""What every command shares: ``--output``, ``--profile``/``--provider``, printing.

A command that reports something takes ``@output_option`` and ends with
``emit(ctx_output, data, render)``: JSON on stdout for ``--output json``
(exactly one document, nothing else on stdout), otherwise ``render(console, data)``
draws rich text. Progress and notes go to stderr so JSON output stays parseable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from cloudeploy import lazy

rich_console = lazy.module("rich.console")

OUTPUT_CHOICES = click.Choice(["text", "json"])


def output_option(func: Callable) -> Callable:
    return click.option(
        "--output",
        "-O",
        "output",
        type=OUTPUT_CHOICES,
        default="text",
        show_default=True,
        help="text for people, json for scripts (one JSON document on stdout).",
    )(func)


def provider_options(func: Callable) -> Callable:
    """``--provider`` and ``--profile``, passed on as ``provider`` and ``profile``."""
    func = click.option(
        "--profile",
        default=None,
        envvar="CLOUDEPLOY_PROFILE",
        help="Profile from cloudeploy.toml (default: the default profile, else local).",
    )(func)
    func = click.option(
        "--provider",
        default=None,
        help="Provider name (local, vertex, sagemaker, ...); overrides the profile's.",
    )(func)
    return func


#: Width of text output when stdout is not a terminal (piped, redirected, CI logs):
#: wide enough that no table is cut, since there is no screen to fit.
PIPED_WIDTH = 4096


def stdout_console():
    """A rich console on stdout; when piped, tables are never cut at 80 columns.

    ``COLUMNS`` still wins when set, as everywhere in rich.
    """
    import os
    import sys


    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return rich_console.Console()
    return rich_console.Console(width=PIPED_WIDTH)


def stderr_console():
    return rich_console.Console(stderr=True)


def emit(output: str, data: Any, render: Callable[[Any, Any], None] | None = None) -> None:
    """Print ``data`` as JSON or through ``render(console, data)``."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
        return
    console = stdout_console()
    if render is None:
        console.print_json(json.dumps(data, default=str))
    else:
        render(console, data)


def progress_printer(output: str) -> Callable[[str], None]:
    """A progress callback for provider calls: a dim line on stderr (quiet for JSON)."""
    if output == "json":
        return lambda message: None
    console = stderr_console()
    return lambda message: console.print(f"[dim]… {message}[/dim]")
