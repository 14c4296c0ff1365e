"""Reading request/response capture files written by the model server.

Three formats are read, told apart by suffix (all described in
:mod:`cloudeploy.serving.capture`). The model server writes raw JSON lines by
default, ``capture-<pid>-<YYYYmmddHH>[-<n>].raw``: the request and answer bodies
as they were, which cost the server almost nothing to write and
:mod:`cloudeploy.monitoring.capture_raw` converts. **Reading compacts**: each
finished raw file (its writer rotated or closed it) is rewritten once as an
Arrow file of the same records and removed, so its text is parsed once and every
later read takes the columnar path; pass ``compact=False`` to leave files alone
(a read-only folder is read raw anyway). Arrow streams,
``capture-<pid>-<YYYYmmddHH>[-<n>].arrow`` (written by ``format="arrow"`` servers
and by compaction), are read column by column by
:mod:`cloudeploy.monitoring.capture_arrow`, nothing parsed as text. The JSON
format — written by older servers, by ``CLOUDEPLOY_CAPTURE_FORMAT=jsonl``, and
by the SageMaker and Vertex AI backends when they convert what the cloud
captured — is read as before: files
``DIR/capture-<pid>-<YYYYmmddHH>.jsonl`` (UTC hour of the records), one JSON
object per request and line::

    {"ts": 1732000000.5, "request_id": "…", "model": "house-price", "version": "v2",
     "features": ["f1", ...], "instances": [[...], ...], "predictions": [...],
     "latency_ms": 3.1}

A file is trusted to hold only records of the hour in its name, as the server
writes them: :func:`capture_histograms` counts files of hours wholly inside
``[since, until)`` without checking each record's ``ts``. Files are read in large blocks, never whole. A file being written may end in a
partially written line: it is skipped (a complete last line without its
newline is kept). A malformed line elsewhere is skipped with a warning naming
the file and line.

:func:`capture_histograms` goes from files to histograms without materialising
rows: a block is parsed by pyarrow (C++, on both cores) straight into float
columns and category counts — see :mod:`cloudeploy.monitoring.capture_fast` —
and binned with numpy. Blocks the fast paths cannot take (differing feature
lists, values of unexpected types, filtered blocks with categorical features)
fall back to orjson line by line, with the same counts.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import orjson

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring import capture_fast, capture_raw
from cloudeploy.monitoring.capture_arrow import add_file, read_records
from cloudeploy.monitoring.capture_arrow import columns as arrow_columns
from cloudeploy.monitoring.columns import to_chunk
from cloudeploy.monitoring.histogram import HistogramSet

logger = logging.getLogger("cloudeploy.monitoring.capture")

CAPTURE_GLOB = "capture-*.jsonl"
CAPTURE_GLOBS = ("capture-*.jsonl", "capture-*.arrow", "capture-*.raw")
CAPTURE_NAME = re.compile(
    r"^capture-(?P<pid>\d+)-(?P<hour>\d{10})(?:-(?P<sequence>\d+))?\.(?P<suffix>jsonl|arrow|raw)\Z"
)
#: Bytes read at a time; memory stays bounded by a few blocks whatever the file size.
BLOCK_BYTES = 16 << 20


def capture_filename(pid: int, ts: float) -> str:
    """The capture file name for process ``pid`` and a record at epoch ``ts``."""
    hour = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y%m%d%H")
    return f"capture-{pid}-{hour}.jsonl"


def write_capture(folder: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append ``records`` (each with its ``ts``) to ``folder``'s capture files, one per UTC hour.

    How the cloud backends turn what a cloud captured into files this module reads.
    """
    pid = os.getpid()
    by_file: dict[str, list[bytes]] = {}
    for record in records:
        by_file.setdefault(capture_filename(pid, record["ts"]), []).append(orjson.dumps(record) + b"\n")
    for name, lines in by_file.items():
        with (folder / name).open("ab") as handle:
            handle.writelines(lines)


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
            paths.extend(sorted(p for pattern in CAPTURE_GLOBS for p in path.glob(pattern)))
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
    # A raw file whose Arrow twin exists was compacted a moment ago (its removal comes next).
    return sorted((p for p in unique if not (_is_raw(p) and p.with_suffix(".arrow") in unique)), key=_file_order)


def _compacted(paths: list[Path], compact: bool) -> list[Path]:
    """``paths`` with each finished raw file compacted to Arrow first (best effort: a file
    that cannot be compacted — read-only folder, a reader already at it — is read raw)."""
    if not compact:
        return paths
    result = []
    for path in paths:
        if _is_raw(path):
            try:
                path = capture_raw.compact(path) or path
            except Exception as error:  # noqa: BLE001 - reading must not depend on it
                logger.debug("%s: not compacted (%s), read as it is", path, error)
        result.append(path)
    return result


def _current(path: Path) -> Path:
    """A raw file that another reader compacted since it was listed: its Arrow file."""
    if _is_raw(path) and not path.exists() and path.with_suffix(".arrow").exists():
        return path.with_suffix(".arrow")
    return path


def _file_order(path: Path) -> tuple[float, str, int, str]:
    """Oldest hour first; a process's rotated files (``-<n>``) in the order written."""
    match = CAPTURE_NAME.match(path.name)
    if not match:
        return (0.0, path.name, 0, "")
    return (_file_hour(path) or 0.0, match.group("pid"), int(match.group("sequence") or 0), path.name)


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
    compact: bool = True,
) -> Iterator[dict[str, Any]]:
    """Capture records (dicts) from ``source``, oldest file first, streaming.

    Records with ``since <= ts < until`` and, when given, ``version`` are kept.
    ``compact``: finished raw files are compacted to Arrow first (see the module docstring).
    """
    keep = _RecordFilter(since, until, version)
    for path in _compacted(capture_files(source, since=since, until=until), compact):
        path = _current(path)
        if _is_arrow(path):
            yield from read_records(path, since=keep.since, until=keep.until, version=version)
            continue
        if _is_raw(path):
            yield from capture_raw.read_records(path, since=keep.since, until=keep.until, version=version)
            continue
        for block, offset in _blocks(path, block_bytes):
            yield from (record for record in _parse_lines(block, path, offset) if keep(record))


def _is_arrow(path: Path) -> bool:
    return path.suffix == ".arrow"


def _is_raw(path: Path) -> bool:
    return path.suffix == ".raw"


def has_captures(source: Path) -> bool:
    """Whether ``source`` is a capture file, or a directory holding at least one."""
    if source.is_dir():
        return any(next(source.glob(pattern), None) is not None for pattern in CAPTURE_GLOBS)
    return source.exists()


def capture_histograms(
    source: Any,
    baseline: dict[str, Any],
    *,
    features: Iterable[str] | None = None,
    since: Any = None,
    until: Any = None,
    version: str | None = None,
    block_bytes: int = BLOCK_BYTES,
    compact: bool = True,
) -> HistogramSet:
    """Histograms of the captured instances on ``baseline``'s bins, in one streaming pass.

    Same filters as :func:`read_capture`; rows are never materialised as Python
    objects when every monitored feature is numerical.
    """
    histograms = HistogramSet(baseline, features)
    keep = _RecordFilter(since, until, version)
    for path in _compacted(capture_files(source, since=since, until=until), compact):
        path = _current(path)
        in_window = _file_inside(path, keep.since, keep.until)
        if _is_arrow(path) or _is_raw(path):
            add = add_file if _is_arrow(path) else capture_raw.add_file
            add(histograms, path, since=None if in_window else keep.since,
                until=None if in_window else keep.until, version=version)
            continue
        for block, offset in _blocks(path, block_bytes):
            if _add_block_fast(histograms, block, keep, in_window):
                continue
            _add_records(histograms, _parse_lines(block, path, offset), keep, path)
    return histograms


def capture_columns(
    source: Any,
    names: list[str],
    *,
    since: Any = None,
    until: Any = None,
    version: str | None = None,
    chunk_rows: int = 50_000,
    compact: bool = True,
) -> Iterator[dict[str, Any]]:
    """``{name: column}`` chunks of the captured instances, for scorers that need whole rows
    (the novelty detector). Same filters as :func:`read_capture`; columns in ``names`` order."""
    keep = _RecordFilter(since, until, version)
    for path in _compacted(capture_files(source, since=since, until=until), compact):
        path = _current(path)
        if _is_arrow(path):
            yield from arrow_columns(path, names, since=keep.since, until=keep.until, version=version)
            continue
        if _is_raw(path):
            yield from capture_raw.columns(path, names, since=keep.since, until=keep.until, version=version,
                                           chunk_rows=chunk_rows)
            continue
        rows: list[list[Any]] = []
        for record in read_capture(path, since=since, until=until, version=version, compact=False):
            features = record.get("features") or []
            positions = {name: i for i, name in enumerate(features)}
            missing = [n for n in names if n not in positions]
            if missing:
                raise ValidationError(f"{path}: captured requests have no feature(s) {', '.join(missing)}")
            for instance in record.get("instances") or []:
                rows.append([instance[positions[n]] if positions[n] < len(instance) else None for n in names])
            if len(rows) >= chunk_rows:
                yield to_chunk(rows, names)
                rows = []
        if rows:
            yield to_chunk(rows, names)


def _file_inside(path: Path, since: float | None, until: float | None) -> bool:
    """True when every record of ``path`` lies in ``[since, until)``, going by its hour."""
    if since is None and until is None:
        return True
    hour = _file_hour(path)
    if hour is None:
        return False
    return (since is None or hour >= since) and (until is None or hour + 3600 <= until)


def _add_block_fast(
    histograms: HistogramSet, block: bytes, keep: _RecordFilter, in_window: bool
) -> bool:
    """Count a block through a fast path of :mod:`capture_fast`; False (nothing counted) if none fits."""
    shared = capture_fast.shared_features(block)
    if shared is None or any(n not in shared[0] for n in histograms.names):
        return False
    names, records = shared
    kinds = {name: histogram.kind for name, histogram in histograms.histograms.items()}
    same_version = (
        keep.version is None or block.count(b'"version":' + orjson.dumps(keep.version)) == records
    )
    columns = capture_fast.csv_columns(block, names, records, kinds) if in_window and same_version else None
    if columns is None and all(kind == "numerical" for kind in kinds.values()):
        columns = capture_fast.json_table_columns(
            block, names, records, since=keep.since, until=keep.until, version=keep.version
        )
    if columns is None:
        return False
    histograms.add_chunk(columns)
    return True


def _add_records(
    histograms: HistogramSet, records: Iterable[dict[str, Any]], keep: _RecordFilter, path: Path
) -> None:
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
