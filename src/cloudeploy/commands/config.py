"""``cloudeploy config``: show profiles, and write one from Terraform outputs."""

from __future__ import annotations

from pathlib import Path

import click

from cloudeploy import lazy
from cloudeploy.commands._output import emit, output_option
from cloudeploy.config import config_path, load_profile, read_config
from cloudeploy.terraform import from_terraform as handoff

rich_table = lazy.module("rich.table")

_CONFIG_FILE = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="CLOUDEPLOY_CONFIG",
    help="Config file (default: ./cloudeploy.toml).",
)


@click.group()
def config() -> None:
    """Show profiles; write one from Terraform outputs."""


@config.command()
@click.option(
    "--profile",
    default=None,
    envvar="CLOUDEPLOY_PROFILE",
    help="Profile to resolve (default: the file's default profile, else local).",
)
@_CONFIG_FILE
@output_option
def show(profile, config_file, output):
    """List the profiles in the config file and show the one in use.

    The profile in use is the one --profile names, else $CLOUDEPLOY_PROFILE, the
    file's default_profile, the profile named "default", or the local provider.
    """
    path = config_file or config_path()
    document = read_config(path)
    resolved = load_profile(profile, path=path)
    profiles = document.get("profiles", {})
    data = {
        "config_path": str(path),
        "exists": path.exists(),
        "default_profile": document.get("default_profile"),
        "profiles": [
            {
                "name": name,
                "provider": table.get("provider", "local"),
                "in_use": name == resolved.name,
            }
            for name, table in sorted(profiles.items())
        ],
        "resolved": {
            "name": resolved.name,
            "provider": resolved.provider,
            "settings": dict(resolved.settings),
        },
    }
    emit(output, data, _render_show)


def _render_show(console, data) -> None:
    where = data["config_path"] if data["exists"] else f"{data['config_path']} (not found)"
    console.print(f"config file: {where}")
    if data["profiles"]:
        table = rich_table.Table("profile", "provider", "in use")
        for row in data["profiles"]:
            table.add_row(row["name"], row["provider"], "*" if row["in_use"] else "")
        console.print(table)
    resolved = data["resolved"]
    console.print(f"in use: [bold]{resolved['name']}[/bold] (provider {resolved['provider']})")
    for key, value in resolved["settings"].items():
        console.print(f"  {key} = {value!r}", highlight=False, soft_wrap=True)


@config.command("from-terraform")
@click.argument("source", metavar="PATH")
@click.option(
    "--profile", required=True, help="Name of the profile to write (replaced if it exists)."
)
@_CONFIG_FILE
@click.option("--default", "make_default", is_flag=True, help="Also make it the default profile.")
@click.option("--api-endpoint", default=None, help="Vertex AI emulator URL (emulator only).")
@click.option(
    "--storage-endpoint", default=None, help="Cloud Storage emulator URL (emulator only)."
)
@click.option(
    "--monitoring-endpoint", default=None, help="Cloud Monitoring emulator host:port (emulator only)."
)
@click.option(
    "--bigquery-endpoint", default=None, help="BigQuery emulator URL, for request logs (emulator only)."
)
@click.option("--endpoint-url", default=None, help="SageMaker emulation URL (emulator only).")
@output_option
def from_terraform(
    source,
    profile,
    config_file,
    make_default,
    api_endpoint,
    storage_endpoint,
    monitoring_endpoint,
    bigquery_endpoint,
    endpoint_url,
    output,
):
    """Write a profile from `terraform output -json`.

    PATH is the JSON file `terraform output -json` wrote, a directory holding
    one (terraform-outputs.json or outputs.json), a Terraform root module (needs
    a terraform binary), or - for standard input. The output cloudeploy_provider
    says whether the outputs are for vertex or sagemaker. Endpoints Terraform
    created are adopted by name, never created twice.
    """
    result, path = handoff(
        source,
        profile,
        config=config_file,
        make_default=make_default,
        emulator={
            "api_endpoint": api_endpoint,
            "storage_endpoint": storage_endpoint,
            "monitoring_endpoint": monitoring_endpoint,
            "bigquery_endpoint": bigquery_endpoint,
            "endpoint_url": endpoint_url,
        },
    )
    data = {
        "profile": profile,
        "config_path": str(path),
        "default": make_default,
        **result.to_dict(),
    }
    emit(output, data, _render_handoff)


def _render_handoff(console, data) -> None:
    console.print(
        f"wrote profile [bold]{data['profile']}[/bold] ({data['provider']}) to {data['config_path']}"
        + (" as the default" if data["default"] else "")
    )
    for key, value in data["settings"].items():
        console.print(f"  {key} = {value!r}", highlight=False, soft_wrap=True)
    for name, resource in data["endpoints"].items():
        console.print(f"adopts endpoint [bold]{name}[/bold] ({resource})")
    if data["deployer"]:
        console.print(f"run cloudeploy as: {data['deployer']}")
