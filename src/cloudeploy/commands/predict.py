"""``cloudeploy predict ENDPOINT --instances JSON|@file.json|@file.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from cloudeploy.commands._output import emit, output_option, provider_options
from cloudeploy.errors import ValidationError


def parse_instances(value: str) -> list[Any]:
    """Instances from inline JSON, ``@file.json`` / ``@file.jsonl`` or ``@file.csv`` (with a header).

    JSON may be a list of rows or ``{"instances": [...]}``. CSV rows become
    objects keyed by the header, numbers parsed as floats.
    """
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise ValidationError(f"--instances: file {path} not found")
        if path.suffix.lower() == ".csv":
            with path.open(newline="") as handle:
                return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(handle)]
        text = path.read_text()
        if path.suffix.lower() == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        source = str(path)
    else:
        text, source = value, "--instances"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(f"{source}: invalid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    if isinstance(data, dict) and "instances" in data:
        data = data["instances"]
    if not isinstance(data, list):
        raise ValidationError(f"{source}: expected a list of instances or {{\"instances\": [...]}}")
    if data and not isinstance(data[0], (list, dict)):
        data = [data]  # one bare row
    return data


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@click.command()
@click.argument("endpoint")
@click.option("--instances", "-i", required=True, help="JSON, @file.json, @file.jsonl or @file.csv")
@click.option("--version", default=None, help="Send to this version only (bypass the split).")
@provider_options
@output_option
def predict(endpoint, instances, version, provider, profile, output):
    """Send instances to ENDPOINT and print the predictions and the version that served them."""
    from cloudeploy.api import resolve_provider

    rows = parse_instances(instances)
    result = resolve_provider(provider, profile).predict(endpoint, rows, version=version)

    def render(console, data):
        console.print(f"[dim]served by {data['version']}[/dim]")
        console.print_json(json.dumps(data["predictions"]))

    emit(output, result.to_dict(), render)
