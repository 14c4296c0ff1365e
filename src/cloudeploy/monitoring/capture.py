"""Reading request/response capture files written by the model server.

The format (shared with ``cloudeploy.serving``): files
``DIR/capture-<pid>-<YYYYmmddHH>.jsonl`` (UTC hour of the records), one JSON
object per request and line::

    {"ts": 1732000000.5, "request_id": "…", "model": "house-price", "version": "v2",
     "features": ["f1", ...], "instances": [[...], ...], "predictions": [...],
     "latency_ms": 3.1}

Files are read in large blocks, never whole. A file being written may end in a
partially written line: it is skipped (a complete last line without its
newline is kept). A malformed line elsewhere is skipped with a warning naming
the file and line.

:func:`capture_histograms` is the fast path for monitoring: when every monitored
feature is numerical, a block is parsed by pyarrow's JSON reader (C++, using
both cores) straight into one float matrix, and binned with ``searchsorted`` +
``bincount``; no per-row Python object is created. Blocks it cannot take
(categorical features, differing feature lists, mixed value types) fall back to
orjson line by line, with the same counts.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import orjson

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.histogram import HistogramSet

logger = logging.getLogger("cloudeploy.monitoring.capture")

CAPTURE_GLOB = "capture-*.jsonl"
CAPTURE_NAME = re.compile(r"^capture-(?P<pid>\d+)-(?P<hour>\d{10})\.jsonl$")
#: Bytes read at a time; memory stays bounded by a few blocks whatever the file size.
BLOCK_BYTES = 16 << 20


def capture_filename(pid: int, ts: float) -> str:
    """The capture file name for process ``pid`` and a record at epoch ``ts``."""
    hour = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y%m%d%H")
    return f"capture-{pid}-{hour}.jsonl"


def to_epoch(value: Any, *, what: str = "time") -> float | None:
    """Epoch seconds from None, a number, a datetime (naive = UTC) or an ISO-8601 string."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a time, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{what} must be epoch seconds or an ISO-8601 time, got {value!r}"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise ValidationError(f"{what} must be a time, got {type(value).__name__}")


def _file_hour(path: Path) -> float | None:
    match = CAPTURE_NAME.match(path.name)
    if not match:
        return None
    stamp = datetime.strptime(match.group("hour"), "%Y%m%d%H").replace(tzinfo=UTC)
    return stamp.timestamp()


def capture_files(source: Any, *, since: Any = None, until: Any = None) -> list[Path]:
    """Capture files in ``source`` (a directory, a file, or a list of them), oldest hour first.

    Files named after an hour entirely outside ``[since, until)`` are left out
    without being opened.
    """
    items = [source] if isinstance(source, (str, PathLike)) else list(source)
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(path.glob(CAPTURE_GLOB)))
        elif path.is_file():
            paths.append(path)
        else:
            raise ValidationError(
                f"capture path {path} does not exist",
                hint="point at the directory given to `cloudeploy serve --capture-dir`",
            )
    start, stop = to_epoch(since, what="since"), to_epoch(until, what="until")
    kept = []
    for path in paths:
        hour = _file_hour(path)
        if hour is not None and (
            (start is not None and hour + 3600 <= start) or (stop is not None and hour >= stop)
        ):
            continue
        kept.append(path)
    unique = dict.fromkeys(path.resolve() for path in kept)  # a file named twice is read once
    return sorted(unique, key=lambda p: (_file_hour(p) or 0.0, p.name))


def _blocks(path: Path, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines (without the last newline) and each block's byte offset in the file.

    A last line without its newline is yielded only when it parses as JSON.
    """
    offset = 0
    with path.open("rb") as handle:
        rest = b""
        while True:
            data = handle.read(block_bytes)
            if not data:
                break
            cut = data.rfind(b"\n")
            if cut < 0:
                rest += data
                continue
            block = b"".join((rest, memoryview(data)[:cut]))  # one copy, not two
            yield block, offset
            offset += len(block) + 1
            rest = data[cut + 1 :]
        if rest.strip():
            try:
                orjson.loads(rest)
            except orjson.JSONDecodeError:
                logger.debug("%s: skipping a partially written last line", path)
                return
            yield rest, offset


def _line_number(path: Path, offset: int) -> int:
    """The 1-based number of the line starting at byte ``offset`` (only computed for warnings)."""
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n") + 1


class _RecordFilter:
    def __init__(self, since: Any, until: Any, version: str | None) -> None:
        self.since = to_epoch(since, what="since")
        self.until = to_epoch(until, what="until")
        self.version = version
        self.active = not (self.since is None and self.until is None and version is None)

    def __call__(self, record: dict[str, Any]) -> bool:
        ts = record.get("ts")
        if self.since is not None and not (isinstance(ts, (int, float)) and ts >= self.since):
            return False
        if self.until is not None and not (isinstance(ts, (int, float)) and ts < self.until):
            return False
        return self.version is None or record.get("version") == self.version


def _parse_lines(block: bytes, path: Path, offset: int) -> Iterator[dict[str, Any]]:
    for index, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            where = f"{path}:{_line_number(path, offset) + index}"
            logger.warning("%s: skipping a malformed capture line (%s)", where, error)
            continue
        if isinstance(record, dict):
            yield record
        else:
            where = f"{path}:{_line_number(path, offset) + index}"
            logger.warning("%s: skipping a capture line that is not an object", where)


def read_capture(
    source: Any,
    *,
    since: Any = None,
    until: Any = None,
    version: str | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[dict[str, Any]]:
    """Capture records (dicts) from ``source``, oldest file first, streaming.

    Records with ``since <= ts < until`` and, when given, ``version`` are kept.
    """
    keep = _RecordFilter(since, until, version)
    for path in capture_files(source, since=since, until=until):
        for block, offset in _blocks(path, block_bytes):
            yield from (record for record in _parse_lines(block, path, offset) if keep(record))


def capture_histograms(
    source: Any,
    baseline: dict[str, Any],
    *,
    features: Iterable[str] | None = None,
    since: Any = None,
    until: Any = None,
    version: str | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> HistogramSet:
    """Histograms of the captured instances on ``baseline``'s bins, in one streaming pass.

    Same filters as :func:`read_capture`; rows are never materialised as Python
    objects when every monitored feature is numerical.
    """
    histograms = HistogramSet(baseline, features)
    keep = _RecordFilter(since, until, version)
    numeric_only = all(h.kind == "numerical" for h in histograms.histograms.values())
    for path in capture_files(source, since=since, until=until):
        for block, offset in _blocks(path, block_bytes):
            if numeric_only and _add_block_with_arrow(histograms, block, keep):
                continue
            _add_records(histograms, _parse_lines(block, path, offset), keep, path)
    return histograms


def _add_records(
    histograms: HistogramSet, records: Iterable[dict[str, Any]], keep: _RecordFilter, path: Path
) -> None:
    from cloudeploy.monitoring.columns import to_chunk

    groups: dict[tuple[str, ...], list[Any]] = {}
    for record in records:
        if keep.active and not keep(record):
            continue
        names = record.get("features")
        instances = record.get("instances")
        if not isinstance(names, list) or not isinstance(instances, list):
            logger.warning("%s: skipping a capture record without features/instances", path)
            continue
        groups.setdefault(tuple(names), []).extend(instances)
    for names, rows in groups.items():
        missing = [n for n in histograms.names if n not in names]
        if missing:
            raise ValidationError(
                f"{path}: captured requests have no feature(s) {', '.join(missing)}",
                hint="captures of several model versions share the directory: filter with version=",
            )
        if rows:
            histograms.add_chunk(to_chunk(rows, list(names)))


def _shared_features(block: bytes) -> tuple[list[str], int] | None:
    """The first line's feature list and how many times its exact bytes occur in ``block``.

    When that count equals the number of records, every record carries the same
    feature list (the caller checks, once it knows the number of records).
    """
    first_end = block.find(b"\n")
    first = block if first_end < 0 else block[:first_end]
    start = first.find(b'"features"')
    end = first.find(b"]", start)
    if start < 0 or end < 0:
        return None
    raw = first[start : end + 1]
    try:
        names = orjson.loads(first).get("features")
        # The raw bytes must hold the whole list (a "]" inside a name would cut it short).
        if not isinstance(names, list) or orjson.loads(b"{" + raw + b"}") != {"features": names}:
            return None
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return names, block.count(raw)


def _add_block_with_arrow(histograms: HistogramSet, block: bytes, keep: _RecordFilter) -> bool:
    """Count a block of numerical captures through pyarrow; False when it cannot (then nothing is counted)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pa_json

    shared = _shared_features(block)
    if shared is None or any(n not in shared[0] for n in histograms.names):
        return False
    names, occurrences = shared
    schema = pa.schema(
        [
            ("ts", pa.float64()),
            ("version", pa.string()),
            ("instances", pa.list_(pa.list_(pa.float64()))),
        ]
    )
    try:
        table = pa_json.read_json(
            io.BytesIO(block),
            read_options=pa_json.ReadOptions(block_size=4 << 20),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    if table.num_rows != occurrences:
        return False
    mask = None
    if keep.since is not None:
        mask = pc.greater_equal(table["ts"], keep.since)
    if keep.until is not None:
        upper = pc.less(table["ts"], keep.until)
        mask = upper if mask is None else pc.and_(mask, upper)
    if keep.version is not None:
        same = pc.equal(table["version"], keep.version)
        mask = same if mask is None else pc.and_(mask, same)
    if mask is not None:
        table = table.filter(pc.fill_null(mask, False))
    width = len(names)
    matrices = []
    for chunk in table["instances"].chunks:
        rows = chunk.flatten()  # drops null instances
        if len(rows) == 0:
            continue
        if pc.any(pc.not_equal(pc.list_value_length(rows), width)).as_py():
            return False
        values = rows.flatten().to_numpy(zero_copy_only=False)
        matrices.append(values.reshape(-1, width))
    for matrix in matrices:
        histograms.add_matrix(matrix, names)
    return True
