"""Reading the model server's columnar capture files (Arrow IPC streams).

The format is described in :mod:`cloudeploy.serving.capture`: one row per
instance, a column ``f:<name>`` per feature, the feature names in order in the
schema metadata. Files are read batch by batch from an ordinary file handle
(not memory-mapped, so resident memory does not grow with the file), and
consecutive batches are gathered into chunks of about :data:`CHUNK_ROWS` rows
before numpy sees them, so many small batches (a lightly loaded server writes
one per request) cost no more than a few large ones.

A stream whose writer is still running, or was killed, ends in the middle of a
batch or without its end marker: everything up to the last whole batch is read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.histogram import CategoryCounts, HistogramSet

np = lazy.module("numpy")
pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")
orjson = lazy.module("orjson")

logger = logging.getLogger("cloudeploy.monitoring.capture")

#: Rows gathered from consecutive batches before they are binned.
CHUNK_ROWS = 1 << 16
FEATURES_KEY = b"cloudeploy.features"
META_COLUMNS = ("ts", "request_id", "model", "version", "latency_ms", "index")


def feature_column(name: str) -> str:
    return f"f:{name}"


def feature_names(schema: Any) -> list[str]:
    """The feature names a capture file's schema lists, in order."""
    text = (schema.metadata or {}).get(FEATURES_KEY, b"").decode()
    return text.split("\x1f") if text else []


def batches(path: Path) -> Iterator[Any]:
    """The whole record batches of the stream in ``path``."""
    with pa.OSFile(str(path), "rb") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            logger.debug("%s: no complete schema yet, skipped", path)
            return
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                logger.debug("%s: skipping a partially written last batch", path)
                return
            yield batch


def chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """Tables of about ``rows`` rows made of consecutive batches of ``path``."""
    pending: list[Any] = []
    count = 0
    for batch in batches(path):
        if pending and not batch.schema.equals(pending[0].schema):
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _filtered(table: Any, since: float | None, until: float | None, version: str | None) -> Any:
    mask = None
    for condition in (
        pc.greater_equal(table["ts"], since) if since is not None else None,
        pc.less(table["ts"], until) if until is not None else None,
        pc.equal(table["version"], version) if version is not None else None,
    ):
        if condition is not None:
            mask = condition if mask is None else pc.and_(mask, condition)
    return table if mask is None else table.filter(mask)


def add_file(
    histograms: HistogramSet,
    path: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    version: str | None = None,
) -> None:
    """Count the instances of ``path`` in ``[since, until)`` (and of ``version``) into ``histograms``."""
    for table in chunks(path):
        names = feature_names(table.schema)
        missing = [n for n in histograms.names if n not in names]
        if missing:
            raise ValidationError(
                f"{path}: captured requests have no feature(s) {', '.join(missing)}",
                hint="captures of several model versions share the directory: filter with version=",
            )
        table = _filtered(table, since, until, version)
        if table.num_rows == 0:
            continue
        chunk: dict[str, Any] = {}
        for name, histogram in histograms.histograms.items():
            column = table[feature_column(name)]
            if histogram.kind == "numerical":
                if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
                    chunk[name] = column.to_numpy().astype(np.float64, copy=False)
                elif pa.types.is_boolean(column.type):
                    chunk[name] = pc.cast(column, pa.float64()).to_numpy()
                else:  # strings in a numerical feature: the histogram coerces or counts missing
                    chunk[name] = np.asarray(column.to_pylist(), dtype=object)
            else:
                counts = pc.value_counts(column.drop_null() if column.null_count else column)
                keys = [str(v) for v in counts.field("values").to_pylist()]
                chunk[name] = CategoryCounts(
                    dict(zip(keys, counts.field("counts").to_pylist(), strict=True)),
                    missing=column.null_count,
                )
        histograms.add_chunk(chunk)


def read_records(
    path: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    version: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The requests of ``path`` as capture records (the JSONL format's dicts), oldest first."""
    for batch in batches(path):
        table = _filtered(pa.Table.from_batches([batch]), since, until, version)
        if table.num_rows == 0:
            continue
        names = feature_names(table.schema)
        columns = {name: table[name].to_pylist() for name in META_COLUMNS}
        features = [table[feature_column(n)].to_pylist() for n in names]
        predictions = table["prediction"].to_pylist() if "prediction" in table.column_names else []
        if pa.types.is_large_string(table.schema.field("prediction").type):
            predictions = [None if p is None else orjson.loads(p) for p in predictions]
        record: dict[str, Any] | None = None
        for row in range(table.num_rows):
            if record is None or columns["index"][row] == 0 or columns["request_id"][row] != record["request_id"]:
                if record is not None:
                    yield record
                record = {
                    "ts": columns["ts"][row],
                    "request_id": columns["request_id"][row],
                    "model": columns["model"][row],
                    "version": columns["version"][row],
                    "features": list(names),
                    "instances": [],
                    "predictions": [],
                    "latency_ms": columns["latency_ms"][row],
                }
            record["instances"].append([column[row] for column in features])
            record["predictions"].append(predictions[row] if predictions else None)
        if record is not None:
            yield record


def columns(
    path: Path,
    names: list[str],
    *,
    since: float | None = None,
    until: float | None = None,
    version: str | None = None,
) -> Iterator[dict[str, Any]]:
    """``{name: column}`` chunks of the instances of ``path`` (numpy arrays; strings as objects)."""
    for table in chunks(path):
        available = feature_names(table.schema)
        missing = [n for n in names if n not in available]
        if missing:
            raise ValidationError(f"{path}: captured requests have no feature(s) {', '.join(missing)}")
        table = _filtered(table, since, until, version)
        if table.num_rows:
            yield {n: table[feature_column(n)].to_numpy() for n in names}
