"""``cloudeploy promote ENDPOINT --to VERSION``."""

from __future__ import annotations

import click

from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options


@click.command()
@click.argument("endpoint")
@click.option("--to", "to", required=True, help="The version that should get 100% (v3, 3 or an alias).")
@click.option("--timeout", type=float, default=None)
@provider_options
@output_option
def promote(endpoint, to, timeout, provider, profile, output):
    """Move all of ENDPOINT's traffic to version --to."""
    from cloudeploy.api import promote as promote_version
    from cloudeploy.api import resolve_provider

    backend = resolve_provider(provider, profile)
    status = backend.get_endpoint(endpoint)
    version = backend.get_model_version(status.model, to).version
    status = promote_version(endpoint, version, provider=backend, timeout=timeout, progress=progress_printer(output))

    def render(console, data):
        from cloudeploy.commands._render import split_line

        console.print(f"[green]promoted[/green] {version} on [bold]{endpoint}[/bold]: {split_line(data['traffic'])}")

    emit(output, status.to_dict(), render)
