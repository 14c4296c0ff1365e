"""Reading Vertex AI's request-response log (BigQuery): the table, its rows, a version's answers.

An endpoint with ``predict_request_response_logging_config`` enabled logs
sampled predict calls to a BigQuery table, one row per call with the columns
``deployed_model_id``, ``logging_time``, ``request_id``, ``request_payload``
and ``response_payload`` (instances and predictions as repeated JSON strings).
:func:`logging_table` names the table, :func:`parse_row` reads a row (the
monitoring backend turns rows into capture files with it), and
:class:`RequestLogReader` tallies one deployed model's logged answers in a
window for the prediction-shift gate. The log is append-only, so the reader
remembers the rows it has read and fetches only new ones (``start_index``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from cloudeploy.providers.predictions import PredictionTally

#: Rows remembered per table; older rows are forgotten first.
MAX_ROWS = 200_000


@dataclass(frozen=True)
class LoggedCall:
    """One logged predict call."""

    deployed_model_id: str
    ts: float
    request_id: str
    instances: list[Any]
    predictions: list[Any]


def logging_table(output_uri: str, endpoint: Any, project: str) -> str:
    """``project.dataset.table`` that ``output_uri`` names for ``endpoint`` (an Endpoint proto).

    A URI naming only a project (or none: ``project``) means Vertex AI's default,
    dataset ``logging_<display name>_<endpoint id>`` and table ``request_response_logging``.
    """
    parts = output_uri.removeprefix("bq://").split(".") if output_uri else [project]
    if len(parts) == 1:
        display = re.sub(r"[^A-Za-z0-9_]", "_", endpoint.display_name)
        parts.append(f"logging_{display}_{endpoint.name.rsplit('/', 1)[-1]}")
    if len(parts) == 2:
        parts.append("request_response_logging")
    return ".".join(parts)


def parse_row(row: Any) -> LoggedCall | None:
    """One log row; None when it has no time or an unreadable payload."""
    if row["logging_time"] is None:
        return None
    try:
        instances = [json.loads(item) for item in row["request_payload"]]
        predictions = [json.loads(item) for item in row["response_payload"]]
    except (TypeError, ValueError):
        return None
    return LoggedCall(str(row["deployed_model_id"]), row["logging_time"].timestamp(),
                      str(row["request_id"]), instances, predictions)  # fmt: skip


class RequestLogReader:
    """Tallies a deployed model's logged answers over a window; thread-safe, reads each row once."""

    def __init__(self, bigquery: Any) -> None:
        self.bigquery = bigquery
        self._rows: dict[str, list[LoggedCall]] = {}
        self._read: dict[str, int] = {}
        self._lock = threading.Lock()

    def tally(
        self, table: str, deployed_model_id: str, *, since: float, until: float
    ) -> PredictionTally:
        """Predictions of ``deployed_model_id``'s calls logged with ``since <= ts < until``."""
        with self._lock:
            self._catch_up(table)
            calls = list(self._rows.get(table, ()))
        tally = PredictionTally()
        for call in calls:
            if call.deployed_model_id == deployed_model_id and since <= call.ts < until:
                tally.add(call.predictions)
        return tally

    def _catch_up(self, table: str) -> None:
        start = self._read.get(table, 0)
        read = 0
        rows = self._rows.setdefault(table, [])
        from google.api_core.exceptions import NotFound

        try:
            for row in self.bigquery.list_rows(table, start_index=start):
                read += 1
                call = parse_row(row)
                if call is not None:
                    rows.append(call)
        except NotFound:
            return  # nothing logged yet: Vertex AI creates the table with its first row
        self._read[table] = start + read
        if len(rows) > MAX_ROWS:
            del rows[: len(rows) - MAX_ROWS]
