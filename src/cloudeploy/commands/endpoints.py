"""``cloudeploy endpoints list|show|stop|start|delete``."""

from __future__ import annotations

import click

from cloudeploy import api
from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options
from cloudeploy.commands._render import endpoint_table


@click.group()
def endpoints():
    """List, show, stop, start and delete endpoints."""


def _render_one(console, data):
    endpoint_table(console, [data])


@endpoints.command("list")
@provider_options
@output_option
def list_endpoints(provider, profile, output):
    """List endpoints with their versions, traffic and replicas."""
    data = [e.to_dict() for e in api.resolve_provider(provider, profile).list_endpoints()]
    emit(output, data, lambda console, d: endpoint_table(console, d) if d else console.print("no endpoints"))


@endpoints.command("show")
@click.argument("name")
@provider_options
@output_option
def show(name, provider, profile, output):
    """Show one endpoint as the provider reports it now."""
    emit(output, api.resolve_provider(provider, profile).get_endpoint(name).to_dict(), _render_one)


@endpoints.command("stop")
@click.argument("name")
@provider_options
@output_option
def stop(name, provider, profile, output):
    """Stop serving NAME, keeping its state (local provider)."""
    emit(output, api.resolve_provider(provider, profile).stop_endpoint(name).to_dict(), _render_one)


@endpoints.command("start")
@click.argument("name")
@click.option("--timeout", type=float, default=None)
@provider_options
@output_option
def start(name, timeout, provider, profile, output):
    """Start a stopped endpoint from its recorded state (local provider)."""
    emit(output, api.resolve_provider(provider, profile).start_endpoint(name, timeout=timeout).to_dict(), _render_one)


@endpoints.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Undeploy every version first.")
@provider_options
@output_option
def delete(name, force, provider, profile, output):
    """Delete NAME (refused while it serves a version, unless --force)."""
    # Under the endpoint's lock (refused while a promote runs); forgets its rollout state and split history.
    api.delete_endpoint(name, force=force, provider=provider, profile=profile, progress=progress_printer(output))
    emit(output, {"deleted": name}, lambda console, d: console.print(f"deleted endpoint {name}"))
