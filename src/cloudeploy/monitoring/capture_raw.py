"""Reading the model server's raw capture files (``capture-<pid>-<hour>[-<n>].raw``).

The format is described in :mod:`cloudeploy.serving.capture`: a header line naming
model, version, features (and their types), then one JSON line per request holding
the request and answer bodies as the server received and sent them. The server
converts nothing; this module does, in three ways:

- :func:`read_records`: records in the shared shape (``features``, ``instances``
  in feature order, ``predictions``), line by line with orjson. Instances given as
  objects are put in feature order; CSV bodies are split and typed by the header's
  feature types, as the server's schema does (numbers, integers, booleans).
- :func:`add_file`: histograms. When every record of a block sent
  ``{"instances": [[...], ...]}`` the instances are cut out of the block with byte
  operations and parsed by pyarrow's CSV reader
  (:func:`cloudeploy.monitoring.capture_fast.csv_columns`); any other block, and
  files only partly inside a time window, go through :func:`read_records`.
- :func:`compact`: a finished file (it ends with the end line) rewritten as the
  columnar Arrow format of :mod:`cloudeploy.monitoring.capture_arrow`, which
  monitoring reads fastest; the raw file is removed once the Arrow file is in place.

A file being written ends in a partial line: it is skipped, as in JSONL files.
The version filter applies per file (one server process serves one version).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring import capture_fast
from cloudeploy.monitoring.capture_arrow import FEATURES_KEY, feature_column
from cloudeploy.monitoring.columns import to_chunk
from cloudeploy.monitoring.histogram import HistogramSet
from cloudeploy.private import private_opener
from cloudeploy.serving.capture import record_batch
from cloudeploy.serving.capture_raw import END_LINE as _WRITTEN_END_LINE
from cloudeploy.serving.capture_raw import MAGIC

np = lazy.module("numpy")
pa = lazy.module("pyarrow")
pa_csv = lazy.module("pyarrow.csv")
pa_json = lazy.module("pyarrow.json")
pc = lazy.module("pyarrow.compute")

logger = logging.getLogger("cloudeploy.monitoring.capture")

END_LINE = _WRITTEN_END_LINE.rstrip(b"\n")
BLOCK_BYTES = 16 << 20
#: A ``.arrow.partial`` file older than this was left by a compaction that died.
STALE_SECONDS = 600.0


class Header:
    """What a raw file's first line says: model, version, feature names and types."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.model = str(data.get("model") or "")
        self.version = str(data.get("version") or "")
        self.features: list[str] = [str(n) for n in data.get("features") or []]
        types = data.get("types") or []
        self.types: list[str] = [str(t) for t in types] if len(types) == len(self.features) else []


def header(path: Path) -> Header | None:
    """The file's header, or None for a file without a complete one (just created, not ours)."""
    with path.open("rb") as handle:
        return _header(handle.readline(1 << 20), path)


def _header(first: bytes, path: Path) -> Header | None:
    if not first.endswith(b"\n"):
        return None
    try:
        data = orjson.loads(first)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or data.get("capture") != MAGIC:
        logger.warning("%s: not a raw capture file (no header), skipped", path)
        return None
    return Header(data)


def _open(path: Path) -> tuple[Header | None, Any]:
    """The header and the open handle, positioned after it (read the blocks with
    :func:`_blocks`): a file compacted (removed) by another reader meanwhile is still read whole."""
    handle = path.open("rb")
    return _header(handle.readline(1 << 20), path), handle


def _blocks(handle: Any, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Blocks of whole record lines (end line and a partial last line left out), after the header."""
    rest = b""
    while True:
        data = handle.read(block_bytes)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            rest += data
            continue
        block = b"".join((rest, memoryview(data)[:cut]))
        rest = data[cut + 1:]
        if block.endswith(END_LINE):
            block = block[: -len(END_LINE)].rstrip(b"\n")
        if block:
            yield block
    # ``rest``: a line still being written (every complete line ends in a newline).


def finished(path: Path) -> bool:
    """Whether the writer ended the file (its last line is the end line)."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - len(END_LINE) - 1))
        return handle.read().rstrip(b"\n").endswith(END_LINE)


def _in_filter(meta: Header, version: str | None) -> bool:
    return version is None or meta.version == version


def read_records(path: Path, *, since: float | None = None, until: float | None = None,
                 version: str | None = None) -> Iterator[dict[str, Any]]:
    """The file's records in the shared shape, ``since <= ts < until`` and of ``version``."""
    meta, handle = _open(path)
    with handle:
        if meta is not None and _in_filter(meta, version):
            yield from _records_of(_blocks(handle), meta, path, since, until)


def _records_of(blocks: Iterator[bytes], meta: Header, path: Path, since: float | None,
                until: float | None) -> Iterator[dict[str, Any]]:
    for block in blocks:
        for number, line in enumerate(block.split(b"\n")):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                logger.warning("%s: skipping a malformed capture line (%s, line %d of a block)", path, error, number + 1)
                continue
            if not isinstance(data, dict):
                continue
            if _kept(data.get("ts"), since, until):
                yield to_record(data, meta)


def _kept(ts: Any, since: float | None, until: float | None) -> bool:
    if since is None and until is None:
        return True
    if not isinstance(ts, (int, float)):
        return False
    return (since is None or ts >= since) and (until is None or ts < until)


def to_record(data: dict[str, Any], meta: Header) -> dict[str, Any]:
    """A raw line (parsed) as a record in the shared shape."""
    if "instances" in data:  # written from a record dict
        record = dict(data)
        record.setdefault("model", meta.model)
        record.setdefault("version", meta.version)
        record.setdefault("features", meta.features)
        return record
    names = meta.features
    if "request_csv" in data:
        instances = _csv_rows(str(data["request_csv"]), meta)
    else:
        document = data.get("request")
        instances = document.get("instances") if isinstance(document, dict) else document
        if not isinstance(instances, list):
            instances = []
        instances = [[row.get(n) for n in names] if isinstance(row, dict) else row for row in instances]
    if "response_csv" in data:
        predictions = [_csv_value(row) for row in csv.reader(io.StringIO(str(data["response_csv"]))) if row]
    else:
        answer = data.get("response")
        predictions = answer.get("predictions") if isinstance(answer, dict) else answer
    return {
        "ts": data.get("ts"),
        "request_id": data.get("request_id", ""),
        "model": meta.model,
        "version": meta.version,
        "features": names,
        "instances": instances,
        "predictions": predictions if isinstance(predictions, list) else [],
        "latency_ms": data.get("latency_ms", 0.0),
    }


def _csv_rows(text: str, meta: Header) -> list[list[Any]]:
    """CSV rows typed as the server's schema types them (a first line of feature names is skipped)."""
    records = [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if row]
    if records and [cell.strip() for cell in records[0]] == meta.features:
        records = records[1:]
    types = meta.types or ["number"] * len(meta.features)
    return [[_typed_cell(cell.strip(), types[i] if i < len(types) else "string") for i, cell in enumerate(row)]
            for row in records]


def _typed_cell(cell: str, kind: str) -> Any:
    if cell == "":
        return None
    try:
        if kind == "number":
            return float(cell)
        if kind == "integer":
            return int(float(cell))
    except ValueError:
        return cell
    if kind == "boolean" and cell.lower() in ("true", "false", "1", "0"):
        return cell.lower() in ("true", "1")
    return cell


def _csv_value(row: list[str]) -> Any:
    values = [_number(cell) for cell in row]
    return values[0] if len(values) == 1 else values


def _number(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def add_file(histograms: HistogramSet, path: Path, *, since: float | None, until: float | None,
             version: str | None) -> None:
    """Count the file's instances into ``histograms`` (``since``/``until`` None: no time filter)."""
    meta, handle = _open(path)
    with handle:
        if meta is not None and _in_filter(meta, version):
            _add_blocks(histograms, _blocks(handle), meta, path, since, until)


def _add_blocks(histograms: HistogramSet, blocks: Iterator[bytes], meta: Header, path: Path,
                since: float | None, until: float | None) -> None:
    missing = [n for n in histograms.names if n not in meta.features]
    if missing:
        raise ValidationError(f"{path}: captured requests have no feature(s) {', '.join(missing)}")
    kinds = {name: histogram.kind for name, histogram in histograms.histograms.items()}
    for block in blocks:
        if since is None and until is None:
            compact_block = block.replace(b'"instances": [[', b'"instances":[[')
            columns = capture_fast.csv_columns(compact_block, meta.features, block.count(b"\n") + 1, kinds)
            if columns is not None:
                histograms.add_chunk(columns)
                continue
        rows: list[Any] = []
        for line in block.split(b"\n"):
            record = _parsed(line, meta, since, until, path)
            if record is not None:
                rows.extend(record["instances"])
        if rows:
            histograms.add_chunk(to_chunk(rows, meta.features))


def _parsed(line: bytes, meta: Header, since: float | None, until: float | None, path: Path) -> dict | None:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        if line.strip():
            logger.warning("%s: skipping a malformed capture line (%s)", path, error)
        return None
    if not isinstance(data, dict):
        return None
    if not _kept(data.get("ts"), since, until):
        return None
    record = to_record(data, meta)
    if record["features"] != meta.features:
        return None  # a record dict with its own feature list: read_records/capture_columns take those
    return record


def columns(path: Path, names: list[str], *, since: float | None, until: float | None, version: str | None,
            chunk_rows: int = 50_000) -> Iterator[dict[str, Any]]:
    """``{name: column}`` chunks of the file's instances, columns in ``names`` order."""
    rows: list[list[Any]] = []
    for record in read_records(path, since=since, until=until, version=version):
        positions = {name: i for i, name in enumerate(record["features"])}
        missing = [n for n in names if n not in positions]
        if missing:
            raise ValidationError(f"{path}: captured requests have no feature(s) {', '.join(missing)}")
        for instance in record["instances"]:
            rows.append([instance[positions[n]] if positions[n] < len(instance) else None for n in names])
        if len(rows) >= chunk_rows:
            yield to_chunk(rows, names)
            rows = []
    if rows:
        yield to_chunk(rows, names)


def compact(path: Path) -> Path | None:
    """Rewrite a finished raw file as an Arrow capture file beside it; returns its path.

    Returns None (and leaves the file alone) when the writer has not ended it yet.
    A block whose requests are all ``{"instances": [[numbers...], ...]}`` with one
    scalar per instance as answer is converted by pyarrow's JSON reader in one C++
    call (:func:`_fast_batch`, ~7 µs per row on this machine), one with text or
    boolean features by its CSV reader (:func:`_fast_batch_csv`, ~10 µs); any
    other block record by record (30–50 µs). The Arrow file is
    written under a temporary name and renamed into place before the raw file is
    removed, so a reader never sees neither (for that instant it may see both).
    Records whose types do not fit the file's schema go to ``<name>-spill.jsonl``.
    """

    if not finished(path):
        return None
    target = path.with_suffix(".arrow")
    temporary = path.with_suffix(".arrow.partial")
    meta = header(path)
    if meta is None or target.exists():
        return None
    try:
        handle = open(temporary, "xb", opener=private_opener)  # noqa: SIM115 - closed below
    except FileExistsError:  # another reader is compacting it, or one died doing so
        if time.time() - temporary.stat().st_mtime < STALE_SECONDS:
            return None
        temporary.unlink(missing_ok=True)
        return compact(path)
    writer: Any = None
    schema: Any = None
    try:
        with handle, path.open("rb") as source:
            source.readline(1 << 20)
            blocks = _blocks(source)
            sink = pa.PythonFile(handle, mode="w")

            def write(batch: Any, records: Any) -> None:
                nonlocal writer, schema
                if writer is None:
                    schema = batch.schema
                    writer = pa.ipc.new_stream(sink, schema)
                if not batch.schema.equals(schema, check_metadata=True):
                    try:
                        batch = pa.Table.from_batches([batch]).cast(schema).combine_chunks().to_batches()[0]
                    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
                        _spill(path, records())  # a feature turned from numbers to text mid-file
                        return
                writer.write_batch(batch)

            for block in blocks:
                batch = _fast_batch(block, meta)  # all-numeric features: cheapest
                if batch is None:
                    batch = _fast_batch_csv(block, meta)  # text and boolean features too
                if batch is not None:
                    write(batch, lambda block=block: _block_records(block, meta, path))
                    continue
                groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for record in _block_records(block, meta, path):
                    groups.setdefault(tuple(record["features"]), []).append(record)
                for names, group in groups.items():
                    write(record_batch(list(names), group, schema), lambda group=group: group)
            if writer is not None:
                writer.close()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if writer is None:
        temporary.unlink()
        path.unlink()
        return None
    os.replace(temporary, target)
    path.unlink()
    return target


def _block_records(block: bytes, meta: Header, path: Path | None = None) -> list[dict[str, Any]]:
    records = []
    for line in block.split(b"\n"):
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            if line.strip():
                logger.warning("%s: skipping a malformed capture line (%s)", path, error)
            continue
        if isinstance(data, dict):
            records.append(to_record(data, meta))
    return records


def _fast_batch(block: bytes, meta: Header) -> Any:
    """The block as one Arrow batch in the server's Arrow layout, or None when it is not
    the plain numeric case (every feature a number, list instances, scalar answers)."""

    width = len(meta.features)
    if not width or any(t not in ("number", "integer") for t in meta.types or ["?"]):
        return None
    if b'"request_csv"' in block or b'"response_csv"' in block:
        return None
    schema = pa.schema([
        ("ts", pa.float64()), ("request_id", pa.string()), ("latency_ms", pa.float64()),
        ("request", pa.struct([("instances", pa.list_(pa.list_(pa.float64())))])),
    ])
    try:
        table = pa_json.read_json(
            io.BytesIO(block),
            read_options=pa_json.ReadOptions(block_size=4 << 20),  # blocks parsed on both cores
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        ).combine_chunks()
        if "response" not in table.column_names or table.num_rows != block.count(b"\n") + 1:
            return None
        instances = pc.struct_field(table["request"].chunk(0), "instances")
        answers = pc.struct_field(table["response"].chunk(0), "predictions")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        return None
    if instances.null_count or answers.null_count or not pa.types.is_list(answers.type):
        return None
    prediction = answers.flatten()
    rows = instances.flatten()
    if (pa.types.is_nested(prediction.type) or pa.types.is_null(prediction.type) or rows.null_count
            or len(prediction) != len(rows)
            or pc.any(pc.not_equal(pc.list_value_length(rows), width)).as_py()):
        return None
    counts = pc.list_value_length(instances).to_numpy(zero_copy_only=False)
    if not np.array_equal(counts, pc.list_value_length(answers).to_numpy(zero_copy_only=False)):
        return None
    matrix = rows.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    total = int(counts.sum())
    position = (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)
    repeat = np.repeat(np.arange(len(counts)), counts)
    arrays = [
        pa.array(table["ts"].to_numpy()[repeat]),
        table["request_id"].take(pa.array(repeat)).chunk(0) if table["request_id"].num_chunks else None,
        pa.array(np.full(total, meta.model, dtype=object), pa.string()),
        pa.array(np.full(total, meta.version, dtype=object), pa.string()),
        pa.array(table["latency_ms"].to_numpy()[repeat]),
        pa.array(position),
    ]
    if arrays[1] is None or table["ts"].null_count or table["latency_ms"].null_count:
        return None
    names = ["ts", "request_id", "model", "version", "latency_ms", "index"]
    columns = np.ascontiguousarray(matrix.T)
    for name, column in zip(meta.features, columns, strict=True):
        arrays.append(pa.array(column))
        names.append(feature_column(name))
    arrays.append(prediction)
    names.append("prediction")
    fields = [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)]
    metadata = {FEATURES_KEY: "\x1f".join(meta.features).encode()}
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def _spill(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path.with_name(path.stem + "-spill.jsonl"), "ab", opener=private_opener) as handle:
        handle.writelines(orjson.dumps(record) + b"\n" for record in records)


_CSV_TYPES = {"number": "float64", "integer": "float64", "boolean": "bool_", "string": "string"}


def _fast_batch_csv(block: bytes, meta: Header) -> Any:
    """The block as one Arrow batch, instances parsed by pyarrow's CSV reader (it takes text
    and boolean features, which :func:`_fast_batch` cannot); None when the block is
    not one it can take exactly: every request ``{"instances": [[...], ...]}`` in compact
    rows, strings without escapes or brackets, answers of one scalar type (the type of the
    first line's), values of each feature's declared type."""

    width, types = len(meta.features), meta.types
    if not width or len(types) != width or any(t not in _CSV_TYPES for t in types):
        return None
    if b'"request_csv"' in block or b'"response_csv"' in block or b"\\" in block:
        return None
    records = block.count(b"\n") + 1
    parts = block.replace(b'"instances": [[', b'"instances":[[').split(capture_fast.INSTANCES_KEY)
    if len(parts) - 1 != records:
        return None
    pieces = []
    for tail in parts[1:]:
        end = tail.find(b"]]")
        if end < 0:
            return None
        pieces.append(tail[:end])
    counts = np.fromiter((piece.count(b"],[") + 1 for piece in pieces), np.int64, len(pieces))
    text = b"\n".join(pieces).replace(b"],[", b"\n")
    if any(mark in text for mark in (b"[", b"]", b"{", b"}")) or any(p.count(b'"') % 2 for p in pieces):
        return None
    first = _first_answer_type(block)
    if first is None:
        return None
    names = [f"c{j}" for j in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=4 << 20),
            parse_options=pa_csv.ParseOptions(quote_char=False, newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: getattr(pa, _CSV_TYPES[t])() for n, t in zip(names, types, strict=True)},
                null_values=["null"], strings_can_be_null=True, true_values=["true"], false_values=["false"],
            ),
        ).combine_chunks()
        meta_schema = pa.schema([("ts", pa.float64()), ("request_id", pa.string()), ("latency_ms", pa.float64()),
                                 ("response", pa.struct([("predictions", pa.list_(first))]))])
        rows = pa_json.read_json(
            io.BytesIO(block), read_options=pa_json.ReadOptions(block_size=4 << 20),
            parse_options=pa_json.ParseOptions(explicit_schema=meta_schema, unexpected_field_behavior="ignore"),
        ).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    total = int(counts.sum())
    if table.num_rows != total or rows.num_rows != records or rows["ts"].null_count or rows["latency_ms"].null_count:
        return None
    answers = pc.struct_field(rows["response"].chunk(0), "predictions")
    if answers.null_count or not np.array_equal(pc.list_value_length(answers).to_numpy(zero_copy_only=False), counts):
        return None
    columns = []
    for name, kind in zip(names, types, strict=True):
        column = table[name].chunk(0)
        if kind == "string":  # JSON strings keep their quotes here: every value must be one
            present = column.drop_null()
            if len(present) and not (pc.all(pc.starts_with(present, '"')).as_py()
                                     and pc.all(pc.ends_with(present, '"')).as_py()
                                     and pc.min(pc.utf8_length(present)).as_py() >= 2):
                return None
            column = pc.utf8_slice_codeunits(column, 1, -1)
        columns.append(column)
    repeat = pa.array(np.repeat(np.arange(records), counts))
    position = (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)
    arrays = [
        rows["ts"].chunk(0).take(repeat),
        rows["request_id"].chunk(0).take(repeat),
        pa.array(np.full(total, meta.model, dtype=object), pa.string()),
        pa.array(np.full(total, meta.version, dtype=object), pa.string()),
        rows["latency_ms"].chunk(0).take(repeat),
        pa.array(position),
        *columns,
        answers.flatten(),
    ]
    fields = ["ts", "request_id", "model", "version", "latency_ms", "index",
              *(feature_column(name) for name in meta.features), "prediction"]
    metadata = {FEATURES_KEY: "\x1f".join(meta.features).encode()}
    schema = pa.schema([pa.field(f, a.type) for f, a in zip(fields, arrays, strict=True)], metadata=metadata)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _first_answer_type(block: bytes) -> Any:
    """The Arrow type of the first line's answers when they are scalars of one type, else None."""

    end = block.find(b"\n")
    try:
        answer = orjson.loads(block if end < 0 else block[:end]).get("response")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    values = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(values, list) or not values:
        return None
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds == {str}:
        return pa.string()
    return None
