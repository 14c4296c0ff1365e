"""The little of BigQuery that reading Vertex AI's request-response logs needs.

:class:`BigQueryStore` keeps tables in memory, keyed by project, dataset and
table id; the emulator appends rows to them (see ``request_logging``) and
``google.cloud.bigquery.Client`` reads them through :func:`bigquery_route`,
the BigQuery v2 REST API under ``/bigquery/v2``:

- ``GET projects/P/datasets/D`` (datasets.get) and ``.../datasets/D/tables``
  (tables.list);
- ``GET .../tables/T`` (tables.get): the schema and ``numRows``;
- ``DELETE .../tables/T`` (tables.delete) and ``DELETE projects/P/datasets/D``
  (datasets.delete: a dataset holding tables is refused, 400 ``resourceInUse``,
  unless ``deleteContents=true``), both 204 with no body: what the monitoring
  notebook's clean-up (``bq rm -f``) calls;
- ``GET .../tables/T/data`` (tabledata.list): ``maxResults``/``pageToken``
  pagination, ``startIndex``, rows as ``{"f": [{"v": ...}]}`` with REPEATED
  cells as ``[{"v": ...}]``, every scalar as a string, and TIMESTAMP as epoch
  microseconds with ``formatOptions.useInt64Timestamp=true`` (what the client
  asks for) or as float seconds without it.

Errors have BigQuery's shape (``{"error": {"code", "message", "status",
"errors": [{"reason"}]}}``). Any other method or path (queries, inserts,
deletes) answers 501 UNIMPLEMENTED naming the operation, never a silent
success. Client tests against it use the real client only.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

#: Rows per tabledata.list page when the client does not say (the service's cap is larger).
DEFAULT_PAGE_ROWS = 1000
_REASONS = {
    404: ("NOT_FOUND", "notFound"),
    400: ("INVALID_ARGUMENT", "invalid"),
    501: ("UNIMPLEMENTED", "notImplemented"),
}


class BigQueryError(Exception):
    """An error answered in BigQuery's shape."""

    def __init__(self, code: int, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason

    def body(self) -> dict[str, Any]:
        status, reason = _REASONS.get(self.code, ("INTERNAL", "internalError"))
        reason = self.reason or reason
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": status,
                "errors": [{"reason": reason, "message": self.message, "domain": "global"}],
            }
        }


@dataclass
class Table:
    """One table: its schema (BigQuery ``TableFieldSchema`` dicts) and rows (dicts by column)."""

    project: str
    dataset: str
    table_id: str
    schema: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        return {
            "kind": "bigquery#table",
            "id": f"{self.project}:{self.dataset}.{self.table_id}",
            "tableReference": {
                "projectId": self.project,
                "datasetId": self.dataset,
                "tableId": self.table_id,
            },
            "schema": {"fields": self.schema},
            "numRows": str(len(self.rows)),
            "type": "TABLE",
            "location": "US",
        }


class BigQueryStore:
    """Datasets and tables of every project; safe to append to from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._datasets: dict[tuple[str, str], dict[str, Table]] = {}

    def ensure_table(
        self, project: str, dataset: str, table_id: str, schema: list[dict[str, Any]]
    ) -> None:
        """Create the dataset and the table unless they exist (an existing table keeps its rows)."""
        with self._lock:
            tables = self._datasets.setdefault((project, dataset), {})
            tables.setdefault(table_id, Table(project, dataset, table_id, schema))

    def append(self, project: str, dataset: str, table_id: str, row: dict[str, Any]) -> None:
        with self._lock:
            self._table(project, dataset, table_id).rows.append(row)

    def rows(self, project: str, dataset: str, table_id: str) -> list[dict[str, Any]]:
        """A copy of the table's rows, oldest first."""
        with self._lock:
            return list(self._table(project, dataset, table_id).rows)

    def clear(self) -> None:
        with self._lock:
            self._datasets.clear()

    def _tables(self, project: str, dataset: str) -> dict[str, Table]:
        tables = self._datasets.get((project, dataset))
        if tables is None:
            raise BigQueryError(404, f"Not found: Dataset {project}:{dataset}")
        return tables

    def _table(self, project: str, dataset: str, table_id: str) -> Table:
        table = self._tables(project, dataset).get(table_id)
        if table is None:
            raise BigQueryError(404, f"Not found: Table {project}:{dataset}.{table_id}")
        return table

    # -- the REST resources --------------------------------------------------

    def delete_table(self, project: str, dataset: str, table_id: str) -> None:
        with self._lock:
            self._table(project, dataset, table_id)
            del self._datasets[(project, dataset)][table_id]

    def delete_dataset(self, project: str, dataset: str, query: dict[str, str]) -> None:
        with self._lock:
            tables = self._tables(project, dataset)
            if tables and query.get("deleteContents", "").lower() != "true":
                raise BigQueryError(
                    400, f"Dataset {project}:{dataset} is still in use", reason="resourceInUse"
                )
            del self._datasets[(project, dataset)]

    def get_dataset(self, project: str, dataset: str) -> dict[str, Any]:
        with self._lock:
            self._tables(project, dataset)
        return {
            "kind": "bigquery#dataset",
            "id": f"{project}:{dataset}",
            "location": "US",
            "datasetReference": {"projectId": project, "datasetId": dataset},
        }

    def list_tables(self, project: str, dataset: str) -> dict[str, Any]:
        with self._lock:
            tables = [t.resource() for t in self._tables(project, dataset).values()]
        return {
            "kind": "bigquery#tableList",
            "totalItems": len(tables),
            "tables": [
                {key: t[key] for key in ("kind", "id", "tableReference", "type")} for t in tables
            ],
        }

    def get_table(self, project: str, dataset: str, table_id: str) -> dict[str, Any]:
        with self._lock:
            return self._table(project, dataset, table_id).resource()

    def list_data(
        self, project: str, dataset: str, table_id: str, query: dict[str, str]
    ) -> dict[str, Any]:
        """tabledata.list: one page of rows from ``pageToken`` (or ``startIndex``), ``maxResults`` long."""
        with self._lock:
            table = self._table(project, dataset, table_id)
            rows, schema = list(table.rows), table.schema
        start = _whole(query.get("pageToken") or query.get("startIndex") or "0", "pageToken")
        size = (
            _whole(query.get("maxResults") or str(DEFAULT_PAGE_ROWS), "maxResults")
            or DEFAULT_PAGE_ROWS
        )
        micros = query.get("formatOptions.useInt64Timestamp", "").lower() == "true"
        page = rows[start : start + size]
        body: dict[str, Any] = {
            "kind": "bigquery#tableDataList",
            "totalRows": str(len(rows)),
            "rows": [encode_row(row, schema, micros=micros) for row in page],
        }
        if start + size < len(rows):
            body["pageToken"] = str(start + size)
        return body


def _whole(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BigQueryError(400, f"Invalid {what}: {text!r}") from None
    if value < 0:
        raise BigQueryError(400, f"Invalid {what}: {text!r}")
    return value


def _cell(value: Any, kind: str, *, micros: bool) -> str | None:
    if value is None:
        return None
    if kind == "TIMESTAMP":  # stored as epoch seconds
        return str(round(float(value) * 1_000_000)) if micros else repr(float(value))
    if kind == "BOOLEAN":
        return "true" if value else "false"
    return str(value)


def encode_row(
    row: dict[str, Any], schema: list[dict[str, Any]], *, micros: bool
) -> dict[str, Any]:
    """``row`` in tabledata.list's encoding: ``{"f": [{"v": cell}, ...]}`` in schema order."""
    cells = []
    for column in schema:
        value, kind = row.get(column["name"]), column["type"]
        if column.get("mode") == "REPEATED":
            cells.append({"v": [{"v": _cell(item, kind, micros=micros)} for item in value or []]})
        else:
            cells.append({"v": _cell(value, kind, micros=micros)})
    return {"f": cells}


_DATASET = r"projects/(?P<project>[^/]+)/datasets/(?P<dataset>[^/]+)"
_TABLE = _DATASET + r"/tables/(?P<table_id>[^/]+)"
_ROUTES = tuple(
    (http_method, re.compile(f"^{pattern}$"), method)
    for http_method, pattern, method in (
        ("GET", _TABLE + "/data", "list_data"),
        ("GET", _TABLE, "get_table"),
        ("DELETE", _TABLE, "delete_table"),
        ("GET", _DATASET + "/tables", "list_tables"),
        ("GET", _DATASET, "get_dataset"),
        ("DELETE", _DATASET, "delete_dataset"),
    )
)
#: Store methods that also take the query string.
_WITH_QUERY = {"list_data", "delete_dataset"}


def dispatch(
    store: BigQueryStore, path: str, query: dict[str, str], http_method: str = "GET"
) -> tuple[int, dict[str, Any]]:
    """Answer ``{http_method} /bigquery/v2/{path}``; returns (HTTP status, JSON body or None).

    A delete answers 204 and no body.
    """
    for route_method, pattern, method in _ROUTES:
        match = pattern.match(path.strip("/"))
        if match is None or http_method != route_method:
            continue
        args: list[Any] = [*match.groups(), query] if method in _WITH_QUERY else [*match.groups()]
        try:
            result = getattr(store, method)(*args)
        except BigQueryError as error:
            return error.code, error.body()
        return (204, None) if http_method == "DELETE" else (200, result)
    message = (
        f"Method {http_method} /bigquery/v2/{path} is not implemented by the cloudeploy "
        "BigQuery emulator (it serves datasets.get/delete, tables.list/get/delete and "
        "tabledata.list)."
    )
    return 501, BigQueryError(501, message).body()


def bigquery_route(store: BigQueryStore) -> Any:
    """The Starlette route serving ``/bigquery/v2/...`` from ``store`` (GETs; the rest is 501)."""
    import json

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response
    from starlette.routing import Route

    async def handle(request: Any) -> Response:
        status, body = await run_in_threadpool(
            dispatch, store, request.path_params["path"], dict(request.query_params),
            request.method,
        )  # fmt: skip
        if body is None:
            return Response(status_code=status)
        return Response(json.dumps(body), status_code=status, media_type="application/json")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Route("/bigquery/v2/{path:path}", handle, methods=methods)
