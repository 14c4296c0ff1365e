"""Streaming readers and writers for CSV (with a header), JSON Lines and Parquet.

The input is cut into *chunks* once, when a job is planned, and the plan is
stored with the job so that a resumed job sees the same chunks:

- CSV and JSON Lines: byte ranges ending at a line end, about ``chunk_rows``
  records each (estimated from the first megabyte). A record may not contain
  a newline inside a quoted value (the same rule as SageMaker's
  ``SplitType=Line``).
- Parquet: one chunk per row group, read in batches of ``chunk_rows`` rows.

:func:`read_chunk` yields :class:`ChunkBatch` es: a pyarrow table of the columns
the job needs plus the local record numbers of its rows and the records that
could not even be parsed (wrong number of fields, invalid JSON). Nothing here
loads a whole input: memory is bounded by the chunk size.

Writers produce one part file per chunk (:class:`PartWriter`); :func:`assemble`
concatenates finished parts, in chunk order, into the destination file.
"""

from __future__ import annotations

import glob
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy import lazy
from cloudeploy.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

np = lazy.module("numpy")
pa = lazy.module("pyarrow")
pacsv = lazy.module("pyarrow.csv")
pajson = lazy.module("pyarrow.json")
pq = lazy.module("pyarrow.parquet")
orjson = lazy.module("orjson")

_SAMPLE_BYTES = 1 << 20
PART_EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


# -- planning ------------------------------------------------------------------


def expand_source(source: str) -> list[str]:
    """The local files a source names: a file, a directory's files, or a glob. Sorted.

    Raises NotFoundError when nothing matches.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    elif any(ch in source for ch in "*?["):
        files = sorted(p for p in glob.glob(os.path.expanduser(source)) if os.path.isfile(p))
    else:
        files = [str(path)] if path.is_file() else []
    if not files:
        raise NotFoundError(f"no input files found at {source!r}")
    return [os.path.abspath(f) for f in files]


def fingerprint(files: list[str]) -> list[dict[str, Any]]:
    """What identifies the input's content cheaply: path, size, modification time."""
    result = []
    for name in files:
        stat = os.stat(name)
        result.append({"path": name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return result


#: The modules reading and writing each format take. Every format also takes
#: pandas: pyarrow imports it the first time an array becomes a numpy array.
FORMAT_MODULES = {
    "csv": ("pandas", "pyarrow.csv"),
    "jsonl": ("pandas", "pyarrow.json", "orjson"),
    "parquet": ("pandas", "pyarrow.parquet"),
}


def import_formats(*formats: str) -> None:
    """Import what reading and writing ``formats`` needs, ahead of the first chunk.

    The engine calls this before forking its workers, so that they share the
    modules instead of each importing them on its first chunk (pandas ~0.4 s
    and pyarrow.csv ~0.1 s of CPU here).
    """
    for fmt in formats:
        for name in FORMAT_MODULES.get(fmt, ()):
            lazy.load(name)


def plan_chunks(files: list[str], fmt: str, chunk_rows: int) -> list[dict[str, Any]]:
    """Cut ``files`` into chunks of about ``chunk_rows`` records, in input order.

    A Parquet chunk (a row group) knows its ``rows``; a CSV or JSON Lines chunk
    (a byte range) its ``rows_estimate``, from the average line of the file's start.
    """
    chunks: list[dict[str, Any]] = []
    for name in files:
        pieces = _plan_parquet(name) if fmt == "parquet" else _plan_lines(name, fmt, chunk_rows)
        for piece in pieces:
            chunks.append({"index": len(chunks), "path": name, **piece})
    return chunks


def _plan_parquet(name: str) -> list[dict[str, Any]]:
    try:
        metadata = pq.ParquetFile(name).metadata
    except Exception as error:  # pyarrow raises several types for a bad file
        raise ValidationError(f"{name} is not a readable Parquet file: {error}") from None
    return [
        {"row_group": group, "rows": metadata.row_group(group).num_rows}
        for group in range(metadata.num_row_groups)
    ]


def _plan_lines(name: str, fmt: str, chunk_rows: int) -> list[dict[str, Any]]:
    size = os.path.getsize(name)
    with open(name, "rb") as handle:
        start = 0
        header = b""
        if fmt == "csv":
            header = handle.readline()
            if not header.strip():
                raise ValidationError(f"{name} has no CSV header line")
            start = len(header)
        sample = handle.read(_SAMPLE_BYTES)
        lines = sample.count(b"\n") or 1
        bytes_per_row = max(1, len(sample) // lines)
        target = max(1, chunk_rows * bytes_per_row)
        pieces = []
        while start < size:
            end = min(size, start + target)
            if end < size:
                handle.seek(end)
                end += len(handle.readline())
            pieces.append(
                {"start": start, "end": end, "header": len(header), "rows_estimate": -(-(end - start) // bytes_per_row)}
            )
            start = end
    return pieces


# -- reading -------------------------------------------------------------------


@dataclass
class ChunkBatch:
    """Rows of a chunk as read: ``table`` holds the needed columns.

    ``records[i]`` is the 0-based record number (within the chunk) of the
    table's row ``i``; ``rejected`` lists ``(record, reason)`` for records that
    could not be parsed at all. ``total`` counts every record of the batch.
    """

    table: pa.Table
    records: Any
    rejected: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0


def read_chunk(
    chunk: dict[str, Any],
    fmt: str,
    *,
    features: list[str],
    numeric: set[str],
    carry: list[str],
    batch_rows: int,
) -> Iterator[ChunkBatch]:
    """Yield the chunk's rows, ``features`` and ``carry`` columns only.

    Numeric features come as float64 when every value parses, else as strings
    for the caller to check value by value. Raises ValidationError when a
    needed column is absent from the input altogether.
    """
    if fmt == "parquet":
        yield from _read_parquet(chunk, features, carry, batch_rows)
        return
    with open(chunk["path"], "rb") as handle:
        header = handle.read(chunk["header"]) if chunk["header"] else b""
        handle.seek(chunk["start"])
        data = handle.read(chunk["end"] - chunk["start"])
    if fmt == "csv":
        yield _read_csv(chunk["path"], header, data, features, numeric, carry)
    else:
        yield _read_jsonl(data, features, numeric, carry)


def _missing(have: list[str], needed: list[str], where: str) -> None:
    missing = [c for c in needed if c not in have]
    if missing:
        raise ValidationError(
            f"{where} has no column(s) {', '.join(missing)} (it has: {', '.join(have) or 'none'})",
            hint="check --id-column and the model's features, or pass features explicitly",
        )


def _read_csv(path: str, header: bytes, data: bytes, features, numeric, carry) -> ChunkBatch:
    names = pacsv.read_csv(io.BytesIO(header), read_options=pacsv.ReadOptions(use_threads=False)).column_names
    needed = list(dict.fromkeys([*carry, *features]))
    _missing(names, needed, f"CSV file {path}")
    rejected: list[tuple[int, str]] = []

    def on_invalid(row) -> str:
        # ``number`` counts the header as record 1 and skips empty lines.
        rejected.append(
            (row.number - 2, f"expected {row.expected_columns} fields, got {row.actual_columns}")
        )
        return "skip"

    def parse(types: dict[str, Any], handler: Any) -> pa.Table:
        rejected.clear()
        return pacsv.read_csv(
            io.BytesIO(header + data),
            # Default (1 MiB) blocks: one block for the whole chunk parses several times slower.
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
            # Empty fields are nulls (missing values), also in text columns.
            convert_options=pacsv.ConvertOptions(
                include_columns=needed, column_types=types, strings_can_be_null=True
            ),
        )

    # Carried columns stay text so ids such as "007" come out as they went in.
    text = {c: pa.string() for c in carry}
    typed = {**text, **{f: pa.float64() for f in features if f in numeric and f not in text}}
    # Cheapest first: a Python row handler slows the parse of every row ~17%, and a
    # clean chunk needs none; text columns take what float64 refuses (checked per row later).
    try:
        table = parse(typed, None)
    except pa.ArrowInvalid:  # a row with too few or too many fields, or a field that is no number
        try:
            table = parse(typed, on_invalid)
        except pa.ArrowInvalid:
            table = parse({**text, **{f: pa.string() for f in features}}, on_invalid)
    total = table.num_rows + len(rejected)
    keep = np.ones(total, dtype=bool)
    keep[[r for r, _ in rejected]] = False
    return ChunkBatch(table, np.flatnonzero(keep), sorted(rejected), total)


def _read_jsonl(data: bytes, features, numeric, carry) -> ChunkBatch:
    needed = list(dict.fromkeys([*carry, *features]))
    schema = pa.schema([(f, pa.float64()) for f in features if f in numeric and f not in carry])
    try:
        table = pajson.read_json(
            io.BytesIO(data),
            read_options=pajson.ReadOptions(use_threads=False, block_size=1 << 22),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
        absent = [c for c in needed if c not in table.column_names]
        if absent and table.num_rows:
            # pyarrow cannot tell "absent everywhere" from "null"; the slow path can.
            raise pa.ArrowInvalid("columns absent")
        for name in absent:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
        table = table.select(needed)
        return ChunkBatch(table, np.arange(table.num_rows), [], table.num_rows)
    except pa.ArrowInvalid:
        return _read_jsonl_by_line(data, needed, numeric)


def _read_jsonl_by_line(data: bytes, needed: list[str], numeric: set[str]) -> ChunkBatch:
    """The slow path, for chunks with invalid JSON or mixed value types."""
    columns: dict[str, list[Any]] = {c: [] for c in needed}
    records: list[int] = []
    rejected: list[tuple[int, str]] = []
    seen: set[str] = set()
    record = -1
    for line in data.splitlines():
        if not line.strip():
            continue
        record += 1
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            rejected.append((record, f"invalid JSON: {error}"))
            continue
        if not isinstance(value, dict):
            rejected.append((record, "expected a JSON object keyed by column name"))
            continue
        seen.update(value)
        records.append(record)
        for name in needed:
            item = value.get(name)
            # Mixed types become text; the caller parses numbers and reports the rest.
            columns[name].append(None if item is None else item if isinstance(item, str) else orjson.dumps(item).decode())
    if records:
        _missing(sorted(seen), needed, "the JSON Lines input")
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    return ChunkBatch(table, np.asarray(records, dtype=np.int64), rejected, record + 1)


def _read_parquet(chunk, features, carry, batch_rows) -> Iterator[ChunkBatch]:
    parquet = pq.ParquetFile(chunk["path"])
    needed = list(dict.fromkeys([*carry, *features]))
    _missing(parquet.schema_arrow.names, needed, f"Parquet file {chunk['path']}")
    offset = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[chunk["row_group"]], columns=needed):
        table = pa.Table.from_batches([batch])
        yield ChunkBatch(table, np.arange(offset, offset + table.num_rows), [], table.num_rows)
        offset += table.num_rows


# -- writing -------------------------------------------------------------------


class PartWriter:
    """Writes one chunk's output to ``path`` atomically: a temporary file, renamed on close.

    CSV parts have no header (:func:`assemble` writes it once).
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = Path(path)
        self.fmt = fmt
        # Unique per process: a worker orphaned by a killed runner may still be writing.
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._handle: Any = None
        self._parquet: Any = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._tmp, table.schema)
            elif table.schema != self._parquet.schema:
                table = table.cast(self._parquet.schema)
            self._parquet.write_table(table)
        else:
            if self._handle is None:
                self._handle = open(self._tmp, "wb")  # noqa: SIM115 - closed by close()/abort()
            self._handle.write(encode(table, self.fmt, header=False))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        else:
            self._tmp.write_bytes(b"")
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        for closer in (self._parquet, self._handle):
            if closer is not None:
                closer.close()
        self._tmp.unlink(missing_ok=True)


def encode(table: pa.Table, fmt: str, *, header: bool) -> bytes:
    """``table`` as CSV (optionally with its header) or JSON Lines bytes."""
    if fmt == "csv":
        # Unquoted unless a value holds a comma, quote or newline ("needed" would quote every text value).
        try:
            return _csv_bytes(table, header, "none")
        except pa.ArrowInvalid:
            return _csv_bytes(table, header, "needed")

    return b"".join(orjson.dumps(row) + b"\n" for row in table.to_pylist())


def _csv_bytes(table: pa.Table, header: bool, quoting: str) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=header, quoting_style=quoting))
    return buffer.getvalue()


def csv_header(names: list[str]) -> bytes:
    return encode(pa.table({n: pa.array([], pa.string()) for n in names}), "csv", header=True)


def assemble(parts: list[Path], destination: Path, fmt: str, columns: list[str]) -> int:
    """Concatenate ``parts`` in order into ``destination`` (written atomically).

    Returns the number of bytes written. Parquet parts are cast to the first
    part's schema (so ids inferred as numbers in one chunk and text in another
    still line up: both become text).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.tmp")
    if fmt == "parquet":
        _assemble_parquet(parts, tmp, columns)
    else:
        with open(tmp, "wb") as out:
            if fmt == "csv":
                out.write(csv_header(columns))
            out.flush()
            for part in parts:
                with open(part, "rb") as handle:
                    _append(handle, out)
    os.replace(tmp, destination)
    return destination.stat().st_size


def _append(source: Any, target: Any) -> None:
    """Copy the rest of ``source`` to the end of ``target`` in the kernel where it can (no copy through Python)."""
    size = os.fstat(source.fileno()).st_size
    try:
        while size > 0:
            sent = os.sendfile(target.fileno(), source.fileno(), None, size)
            if sent == 0:
                break
            size -= sent
    except (AttributeError, OSError):  # no sendfile to a regular file here
        shutil.copyfileobj(source, target, 1 << 20)


def _assemble_parquet(parts: list[Path], tmp: Path, columns: list[str]) -> None:
    schemas = [pq.read_schema(p) for p in parts if p.stat().st_size]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        schema = pa.schema([(name, pa.string()) for name in schemas[0].names])
    if schema is None:
        schema = pa.schema([(name, pa.string()) for name in columns])
    with pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            if not part.stat().st_size:
                continue
            for batch in pq.ParquetFile(part).iter_batches():
                writer.write_table(pa.Table.from_batches([batch]).cast(schema))
