"""Request bodies in, response bodies out: JSON (Vertex AI shape) and CSV (SageMaker).

Parsing turns a body into validated rows in schema order (through
``InputSchema.rows``, which raises ``InputError`` naming the row and field, or
its exact fast path :class:`RowValidator`);
anything malformed raises :class:`HTTPProblem` with a 4xx status. Encoding turns
predictions into the response body. Errors use Vertex AI's JSON shape,
``{"error": {"code", "message", "status"}}``, or plain text for CSV clients.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from cloudeploy.packaging.schema import InputSchema

JSON = "application/json"
CSV = "text/csv"

#: Google's canonical status names, as Vertex AI puts them in error bodies.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    406: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class HTTPProblem(Exception):
    """An HTTP error answer: ``status``, a message for the client, extra headers."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> bytes:
    return orjson.dumps(
        {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}
    )


def media_type(header: str | None) -> str:
    """``"text/csv; charset=utf-8"`` -> ``"text/csv"``."""
    return (header or "").split(";", 1)[0].strip().lower()


def parse_json(body: bytes, validate: RowValidator, *, allow_bare_list: bool) -> list[list[Any]]:
    """Rows from ``{"instances": [...], "parameters": {...}}`` (or a bare list if allowed)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise HTTPProblem(400, f"request body is not valid JSON: {error}") from None
    if isinstance(document, dict):
        if "instances" not in document:
            keys = ", ".join(map(repr, document)) or "none"
            raise HTTPProblem(400, f'request body must be {{"instances": [...]}}; got keys {keys}')
        parameters = document.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise HTTPProblem(400, '"parameters" must be an object')
        instances = document["instances"]
    elif isinstance(document, list) and allow_bare_list:
        instances = document
    else:
        expected = '{"instances": [...]} or a list of instances' if allow_bare_list else '{"instances": [...]}'
        raise HTTPProblem(400, f"request body must be {expected}, got {type(document).__name__}")
    return validate(instances)


class RowValidator:
    """``schema.rows(instances)``, with a fast path for the common case.

    When every feature is a ``number`` without categories and every instance is
    a list of the right length holding only finite ints and floats, the result is
    those values as floats, exactly what ``schema.rows`` returns, at a few percent
    of its cost (it dominates a single-row request otherwise). Anything else, valid or not,
    goes through ``schema.rows``, so error messages come from one place.
    """

    def __init__(self, schema: InputSchema) -> None:
        self.schema = schema
        self._width = len(schema.features)
        self._all_numbers = all(f.type == "number" and f.categories is None for f in schema.features)

    def __call__(self, instances: Any) -> list[list[Any]]:
        if not (self._all_numbers and type(instances) is list and instances):
            return self.schema.rows(instances)
        rows = []
        for instance in instances:
            if type(instance) is not list or len(instance) != self._width:
                return self.schema.rows(instances)
            for value in instance:
                kind = type(value)
                if kind is float:
                    if value - value != 0.0:  # NaN or infinity
                        return self.schema.rows(instances)
                elif kind is not int:
                    return self.schema.rows(instances)
            rows.append([float(value) for value in instance])
        return rows


def parse_csv(body: bytes, validate: RowValidator) -> list[list[Any]]:
    """Rows from CSV without header (a first line equal to the feature names is skipped).

    Empty cells are missing values; ``true``/``false`` are accepted for boolean features.
    """
    schema = validate.schema
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HTTPProblem(400, f"CSV body is not UTF-8: {error}") from None
    try:
        records = [record for record in csv.reader(io.StringIO(text)) if record]
    except csv.Error as error:
        raise HTTPProblem(400, f"CSV body is malformed: {error}") from None
    if records and [cell.strip() for cell in records[0]] == schema.names:
        records = records[1:]
    if not records:
        raise HTTPProblem(400, "CSV body has no rows: send one instance per line")
    booleans = {i for i, feature in enumerate(schema.features) if feature.type == "boolean"}
    rows = []
    for record in records:
        row: list[Any] = []
        for index, cell in enumerate(record):
            cell = cell.strip()
            if cell == "":
                row.append(None)
            elif index in booleans and cell.lower() in ("true", "false", "1", "0"):
                row.append(cell.lower() in ("true", "1"))
            else:
                row.append(cell)
        rows.append(row)
    return validate(rows)


def encode_json(predictions: list[Any], version: str) -> bytes:
    return orjson.dumps(
        {"predictions": predictions, "modelVersionId": version},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def encode_csv(predictions: list[Any]) -> bytes:
    """One line per instance; a list-valued prediction (probabilities) becomes columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for prediction in predictions:
        writer.writerow(prediction if isinstance(prediction, (list, tuple)) else [prediction])
    return buffer.getvalue().encode()
