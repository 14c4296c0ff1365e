"""Request-response logging of online predictions into the emulator's BigQuery.

An endpoint's ``predictRequestResponseLoggingConfig`` is ``{enabled,
samplingRate, bigqueryDestination: {outputUri: "bq://project.dataset.table"}}``.
As the SDK documents it, a destination naming only the project (or none at
all: the endpoint's project) means dataset ``logging_<display name>_<endpoint
id>`` and table ``request_response_logging``; the emulator writes the
resolved ``bq://`` table back into the config. ``samplingRate`` defaults to 0
(nothing is logged) and must be in [0, 1]. Enabling logging creates the
dataset and the table.

A model deployment monitoring job logs the endpoint's predictions to
``model_deployment_monitoring_<endpoint id>.serving_predict`` (see
:func:`monitoring_table`), with the same columns.

Each sampled predict call that a model answered becomes one row, with the
columns of Google's "online prediction logging" documentation as far as we
know them: ``endpoint`` (the endpoint's resource name), ``deployed_model_id``,
``logging_time`` (TIMESTAMP), ``request_id`` (NUMERIC), ``request_payload``
and ``response_payload`` (REPEATED STRING: each instance and each prediction
as a JSON string). Sampling is seeded by the endpoint's name, so a run of
calls keeps the same rows every time.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import zlib
from typing import Any

from cloudeploy.testing.vertex._wire import invalid
from cloudeploy.testing.vertex.bigquery import BigQueryError, BigQueryStore

FIELD = "predictRequestResponseLoggingConfig"
DEFAULT_TABLE = "request_response_logging"
MONITORING_DATASET_PREFIX = "model_deployment_monitoring_"
SERVING_PREDICT_TABLE = "serving_predict"
SCHEMA = [
    {"name": "endpoint", "type": "STRING", "mode": "NULLABLE"},
    {"name": "deployed_model_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "logging_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "request_id", "type": "NUMERIC", "mode": "NULLABLE"},
    {"name": "request_payload", "type": "STRING", "mode": "REPEATED"},
    {"name": "response_payload", "type": "STRING", "mode": "REPEATED"},
]
_BQ_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def default_dataset(display_name: str, endpoint_id: str) -> str:
    """The dataset Vertex AI logs an endpoint to when the destination names only a project."""
    return f"logging_{re.sub(r'[^A-Za-z0-9_]', '_', display_name)}_{endpoint_id}"


def resolve(config: dict[str, Any], endpoint_name: str, display_name: str) -> dict[str, Any]:
    """``config`` checked, with its sampling rate and full ``bq://project.dataset.table`` filled in."""
    if not isinstance(config, dict):
        raise invalid(f"{FIELD} must be an object.")
    rate = config.get("samplingRate", 0.0)
    if (
        isinstance(rate, bool)
        or not isinstance(rate, (int, float))
        or not 0.0 <= float(rate) <= 1.0
    ):
        raise invalid(
            f"predict_request_response_logging_config.sampling_rate must be in [0, 1], got {rate!r}."
        )
    uri = ((config.get("bigqueryDestination") or {}).get("outputUri") or "").strip()
    project = endpoint_name.split("/")[1]
    if uri and not uri.startswith("bq://"):
        raise invalid(
            f"bigquery_destination.output_uri must look like bq://project.dataset.table, got {uri!r}."
        )
    parts = uri.removeprefix("bq://").split(".") if uri else [project]
    if len(parts) > 3 or not all(_BQ_ID.match(p) for p in parts):
        raise invalid(
            f"bigquery_destination.output_uri must look like bq://project.dataset.table, got {uri!r}."
        )
    if len(parts) == 1:
        parts.append(default_dataset(display_name, endpoint_name.rsplit("/", 1)[-1]))
    if len(parts) == 2:
        parts.append(DEFAULT_TABLE)
    return {
        "enabled": bool(config.get("enabled", False)),
        "samplingRate": float(rate),
        "bigqueryDestination": {"outputUri": "bq://" + ".".join(parts)},
    }


def monitoring_table(endpoint_name: str) -> str:
    """``bq://`` table a model deployment monitoring job logs an endpoint's predictions to.

    ``ModelDeploymentMonitoringBigQueryTable.bigquery_table_path``:
    ``bq://<project_id>.model_deployment_monitoring_<endpoint_id>.<log_source>_<log_type>``,
    here serving + predict.
    """
    project, endpoint_id = endpoint_name.split("/")[1], endpoint_name.rsplit("/", 1)[-1]
    return f"bq://{project}.{MONITORING_DATASET_PREFIX}{endpoint_id}.{SERVING_PREDICT_TABLE}"


def _table(config: dict[str, Any]) -> tuple[str, str, str]:
    project, dataset, table = (
        config["bigqueryDestination"]["outputUri"].removeprefix("bq://").split(".")
    )
    return project, dataset, table


class RequestLog:
    """Writes sampled predict calls of logging endpoints to their BigQuery tables."""

    def __init__(self, bigquery: BigQueryStore) -> None:
        self.bigquery = bigquery
        self._lock = threading.Lock()
        #: One sampler per (endpoint, destination table), seeded by the endpoint's name.
        self._samplers: dict[tuple[str, str], random.Random] = {}

    def apply(self, endpoint_name: str, config: dict[str, Any]) -> None:
        """Start logging by a :func:`resolve`-d ``config``: the table exists, sampling starts afresh."""
        if config["enabled"]:
            self.bigquery.ensure_table(*_table(config), SCHEMA)
        with self._lock:
            for key in [k for k in self._samplers if k[0] == endpoint_name]:
                del self._samplers[key]

    def record(
        self,
        endpoint_name: str,
        config: dict[str, Any] | None,
        deployed_model_id: str,
        instances: list[Any],
        predictions: list[Any],
    ) -> bool:
        """Append one row for this call if logging is on and the call is sampled; True if it was."""
        if not config or not config.get("enabled"):
            return False
        with self._lock:
            sampler = self._samplers.setdefault(
                (endpoint_name, config["bigqueryDestination"]["outputUri"]),
                random.Random(zlib.crc32(endpoint_name.encode())),
            )
            if sampler.random() >= config["samplingRate"]:
                return False
            request_id = sampler.getrandbits(63)
        row = {
            "endpoint": endpoint_name,
            "deployed_model_id": deployed_model_id,
            "logging_time": time.time(),
            "request_id": request_id,
            "request_payload": [json.dumps(i) for i in instances],
            "response_payload": [json.dumps(p) for p in predictions],
        }
        try:
            self.bigquery.append(*_table(config), row)
        except BigQueryError:  # the table was deleted: the service drops the row too
            return False
        return True

    def clear(self) -> None:
        with self._lock:
            self._samplers.clear()
