"""``cloudeploy models list|show|delete``."""

from __future__ import annotations

import click

from cloudeploy import api, lazy
from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options
from cloudeploy.errors import ValidationError

rich_table = lazy.module("rich.table")


@click.group()
def models():
    """List, show and delete registered models and versions."""


@models.command("list")
@provider_options
@output_option
def list_models(provider, profile, output):
    """List registered models with their latest version."""
    backend = api.resolve_provider(provider, profile)
    rows = []
    for name in backend.list_models():
        versions = backend.list_versions(name)
        rows.append({"model": name, "versions": len(versions), "latest": versions[-1].to_dict()})

    def render(console, rows):
        table = rich_table.Table(title="models", title_justify="left")
        for column in ("model", "versions", "latest", "aliases", "digest"):
            table.add_column(column)
        for row in rows:
            latest = row["latest"]
            table.add_row(row["model"], str(row["versions"]), latest["version"],
                          ", ".join(latest["aliases"]), latest["digest"][:12])
        console.print(table if rows else "no models registered")

    emit(output, rows, render)


@models.command("show")
@click.argument("model")
@provider_options
@output_option
def show_model(model, provider, profile, output):
    """Show every version of MODEL (MODEL@VERSION shows one)."""
    backend = api.resolve_provider(provider, profile)
    name, _, version = model.partition("@")
    versions = [backend.get_model_version(name, version)] if version else backend.list_versions(name)
    data = [v.to_dict() for v in versions]

    def render(console, data):
        table = rich_table.Table(title=name, title_justify="left")
        for column in ("version", "aliases", "digest", "scikit-learn", "created"):
            table.add_column(column)
        for v in data:
            table.add_row(v["version"], ", ".join(v["aliases"]), v["digest"][:12], v["framework_version"], v["created_at"])
        console.print(table)

    emit(output, data, render)


@models.command("delete")
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--timeout", type=float, default=None)
@provider_options
@output_option
def delete_model(ref, timeout, provider, profile, output):
    """Delete one version of a model (refused while it is deployed)."""
    name, _, version = ref.partition("@")
    if not name or not version:
        raise ValidationError(f"{ref!r} is not NAME@VERSION", hint="e.g. cloudeploy models delete house-price@v3")
    api.delete_model_version(name, version, provider=provider, profile=profile, timeout=timeout,
                         progress=progress_printer(output))
    emit(output, {"model": name, "version": version, "deleted": True},
         lambda console, data: console.print(f"deleted {data['model']}@{data['version']}"))
