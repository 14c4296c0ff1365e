"""``cloudeploy predict ENDPOINT --instances JSON|@file.json|@file.csv``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import click

from cloudeploy.commands._output import emit, output_option, provider_options
from cloudeploy.errors import ValidationError
from cloudeploy.instances import json_ready
from cloudeploy.providers import resolve_provider


def parse_instances(value: str) -> list[Any]:
    """Instances from inline JSON, ``@file.json`` / ``@file.jsonl`` or ``@file.csv``.

    JSON may be a list of rows or ``{"instances": [...]}``; ``NaN`` in it is a
    missing value (sent as ``null``). CSV rows become objects keyed by the header,
    or lists in feature order when the file has no header row; numbers are parsed
    as floats and empty cells are missing values.
    """
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise ValidationError(f"--instances: file {path} not found")
        if path.suffix.lower() == ".csv":
            return json_ready(_csv_rows(path))
        text = path.read_text()
        if path.suffix.lower() == ".jsonl":
            return json_ready(json.loads(line) for line in text.splitlines() if line.strip())
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
    return json_ready(data)


def _csv_rows(path: Path) -> list[Any]:
    """Rows of a CSV file: objects keyed by its header, or lists when it has none.

    A first row holding a number is data, not a header (a header names features);
    the rows are then sent as lists in the schema's feature order. Empty cells
    are missing values.
    """
    with path.open(newline="") as handle:
        records = [record for record in csv.reader(handle) if record]
    if not records:
        raise ValidationError(f"{path}: the CSV file is empty")
    first = records[0]
    if any(isinstance(_number(cell), float) for cell in first):
        return [[_number(cell) for cell in record] for record in records]
    if len(records) == 1:
        raise ValidationError(
            f"{path}: the only row is a header ({', '.join(first[:4])}{', ...' if len(first) > 4 else ''}); "
            "there are no instances to send"
        )
    return [dict(zip(first, (_number(cell) for cell in record), strict=False)) for record in records[1:]]


def _number(text: str) -> Any:
    if text == "":
        return None
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
    rows = parse_instances(instances)
    result = resolve_provider(provider, profile).predict(endpoint, rows, version=version)

    def render(console, data):
        request = f", request {data['request_id']}" if data.get("request_id") else ""
        console.print(f"[dim]served by {data['version']}{request}[/dim]")
        console.print_json(json.dumps(data["predictions"]))

    emit(output, result.to_dict(), render)
