"""``cloudeploy traffic ENDPOINT VERSION=PCT ...``, ``cloudeploy rollback ENDPOINT`` and ``cloudeploy undeploy``.

Each runs under the endpoint's lock (docs/state.md): refused, naming the
promote, while a promote runs on the endpoint. ``--break-lock`` first breaks a
lock left by a process that is gone, saying whose it was.
"""

from __future__ import annotations

import click

from cloudeploy import api
from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options
from cloudeploy.commands._render import split_line
from cloudeploy.types import TrafficSplit

LOCK_MESSAGES = ("broke the lock", "took over the lock")


def lock_aware_progress(output: str, *, others: bool = True):
    """``progress_printer(output)``, except that breaking or taking over an endpoint's lock is
    always said on stderr, even with ``--output json`` (``others=False``: only that)."""
    quiet = progress_printer(output) if others else (lambda message: None)

    def report(message: str) -> None:
        if message.startswith(LOCK_MESSAGES):
            click.echo(f"warning: {message}", err=True)
        else:
            quiet(message)

    return report


def _render_split(verb):
    def render(console, data):
        console.print(f"{verb} [bold]{data['name']}[/bold]: {split_line(data['traffic'])}")

    return render


@click.command()
@click.argument("endpoint")
@click.argument("split", nargs=-1, required=True)
@click.option("--timeout", type=float, default=None)
@click.option("--break-lock", is_flag=True, help="First break the endpoint's lock if a process that is gone holds it.")
@provider_options
@output_option
def traffic(endpoint, split, timeout, break_lock, provider, profile, output):
    """Set ENDPOINT's split, e.g. `cloudeploy traffic house-price v1=90 v2=10`."""
    status = api.set_traffic(endpoint, TrafficSplit.parse(split), provider=provider, profile=profile,
                             timeout=timeout, progress=lock_aware_progress(output), break_lock=break_lock)
    emit(output, status.to_dict(), _render_split("traffic on"))


@click.command()
@click.argument("endpoint")
@click.option("--timeout", type=float, default=None)
@click.option("--break-lock", is_flag=True, help="First break the endpoint's lock if a process that is gone holds it.")
@provider_options
@output_option
def rollback(endpoint, timeout, break_lock, provider, profile, output):
    """Return ENDPOINT to its split before the last traffic change (again: one further back)."""
    status = api.rollback(endpoint, provider=provider, profile=profile, timeout=timeout,
                          progress=lock_aware_progress(output), break_lock=break_lock)
    emit(output, status.to_dict(), _render_split("rolled back"))


@click.command()
@click.argument("endpoint")
@click.argument("version")
@click.argument("split", nargs=-1)
@click.option("--timeout", type=float, default=None)
@provider_options
@output_option
def undeploy(endpoint, version, split, timeout, provider, profile, output):
    """Stop serving VERSION on ENDPOINT, e.g. `cloudeploy undeploy house-price v2`.

    Refused while VERSION receives traffic, unless SPLIT moves it away in the same
    call: `cloudeploy undeploy house-price v2 v1=100`.
    """
    status = api.undeploy(endpoint, version, traffic=TrafficSplit.parse(split) if split else None,
                          provider=provider, profile=profile, timeout=timeout,
                          progress=progress_printer(output))
    emit(output, status.to_dict(), _render_split(f"undeployed {version} from"))
