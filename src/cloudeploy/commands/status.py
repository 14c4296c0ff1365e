"""``cloudeploy status``: every endpoint at a glance."""

from __future__ import annotations

import click

from cloudeploy.commands._output import emit, output_option, provider_options
from cloudeploy.commands._render import endpoint_table
from cloudeploy.providers import resolve_provider


@click.command()
@provider_options
@output_option
def status(provider, profile, output):
    """Show every endpoint with its versions, traffic and replicas."""
    backend = resolve_provider(provider, profile)
    data = {"provider": backend.name, "profile": backend.profile.name,
            "endpoints": [e.to_dict() for e in backend.list_endpoints()]}

    def render(console, data):
        console.print(f"provider [bold]{data['provider']}[/bold] (profile {data['profile']})")
        if data["endpoints"]:
            endpoint_table(console, data["endpoints"])
        else:
            console.print("no endpoints")

    emit(output, data, render)
