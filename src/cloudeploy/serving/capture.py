"""Sampled request/response capture for monitoring: raw JSON lines (default), Arrow or JSONL.

What is captured per request, as every reader returns it (``cloudeploy.monitoring.capture``
reads every format below, and the clouds')::

    {"ts": 1700000000.123, "request_id": "…", "model": "…", "version": "v2",
     "features": ["f1", …], "instances": [[…row in schema order…], …],
     "predictions": […], "latency_ms": 3.2}

**Raw (default).** Capturing must cost the server almost nothing, so the request
path only appends a reference to what it already holds — the request body as
received, the answer body as sent, time, request id, latency — to a bounded
in-memory buffer (a deque append: no lock, no thread wake-up, no conversion, no
encoding). A background thread wakes every ``linger`` seconds and writes what
piled up with one ``write`` call, each record framed as one JSON line by byte
concatenation (the bodies are embedded as they are, newlines turned to spaces;
nothing is parsed). Columnar conversion is the reader's job
(:mod:`cloudeploy.monitoring.capture_raw`, which can also compact finished files
into the Arrow format below). ``DIR/capture-<pid>-<YYYYmmddHH>[-<n>].raw``::

    {"capture":"cloudeploy-raw/1","model":"m","version":"v2","features":["f1",…]}   # header
    {"ts":1700000000.1,"request_id":"…","latency_ms":3.2,"request":<JSON body>,"response":<JSON answer>}
    {"ts":…,"request_id":"…","latency_ms":…,"request_csv":"<CSV body>","response_csv":"<CSV answer>"}
    {"capture_end":true}                                                            # file complete

A CSV request or answer is a JSON string (``request_csv``/``response_csv``); a
record submitted as a dict (:meth:`CaptureWriter.submit`) is written as
``"features"``, ``"instances"`` and ``"predictions"`` keys instead. A file is
rotated at the UTC hour and at ``max_file_bytes``; the end line is written when
it is rotated or the writer closes, so a file without one may still grow.

**Arrow** (``format="arrow"`` or ``CLOUDEPLOY_CAPTURE_FORMAT=arrow``).
``DIR/capture-<pid>-<YYYYmmddHH>[-<n>].arrow``, an Arrow IPC
*stream* (UTC hour of the records; ``-<n>`` when a file was rotated within the
hour). One row per instance, columns ``ts``, ``request_id``, ``model``,
``version``, ``latency_ms``, ``index`` (the row's position in its request), one
column ``f:<name>`` per feature (float64 for numbers, bool, or string:
``str(value)``), and ``prediction`` (its inferred Arrow type; answers that have
none — mixed or nested — as JSON text in a ``large_string`` column). The
schema's metadata ``cloudeploy.features`` lists the feature names in order. Requests are appended as record batches of up to
``batch_rows`` rows, written after at most ``linger`` seconds, so a reader sees
a request within about that time; a stream needs no footer, so a file being
written is readable up to its last whole batch. A file is rotated at the hour,
at ``max_file_bytes``, and when a batch's column types do not fit the file's
schema (a feature that was all numbers gets a string). Monitoring reads the
feature columns directly, without parsing text. Building Arrow batches in the
server cost ~20% of its throughput at concurrency 64 (bench/README.md), hence raw.

**JSONL** (``format="jsonl"``): the first format,
``DIR/capture-<pid>-<YYYYmmddHH>.jsonl``, one JSON object per
request and line, flushed per line.

Records are written by a background thread. A request never waits for the disk
and never fails because of it: when the buffer is full (``max_pending`` records,
or for raw ``max_pending_bytes`` of bodies), or the disk refuses a write, the
record is dropped and counted. ``close()`` (the server calls it on SIGTERM and at
shutdown) writes what is buffered and ends the files. Files are private (0600,
folders 0700).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cloudeploy import lazy
from cloudeploy.private import private_dir, private_file, private_opener
from cloudeploy.serving.capture_raw import RawSpool

np = lazy.module("numpy")
pa = lazy.module("pyarrow")
orjson = lazy.module("orjson")

logger = logging.getLogger("cloudeploy.serving")

_STOP = object()
FORMATS = ("raw", "arrow", "jsonl")
#: Columns every Arrow capture file has before the features, in this order.
META_COLUMNS = ("ts", "request_id", "model", "version", "latency_ms", "index")
PREDICTION_COLUMN = "prediction"


def capture_path(directory: Path, ts: float, pid: int | None = None, *, suffix: str = "jsonl",
                 sequence: int = 0) -> Path:
    """The file a record with timestamp ``ts`` goes to, for this process."""
    hour = time.strftime("%Y%m%d%H", time.gmtime(ts))
    rotated = f"-{sequence}" if sequence else ""
    return Path(directory) / f"capture-{pid or os.getpid()}-{hour}{rotated}.{suffix}"


class CaptureWriter:
    """Writes sampled records to the capture files from one background thread.

    ``sampled()`` says whether this request should be captured (rate in 0..1);
    the server then calls ``add(request_id, body, answer, latency_ms,
    request_csv, answer_csv, rows, predictions)``, which never blocks (the raw
    format keeps only the bodies; the others build a record from ``rows`` and
    ``predictions``). ``submit(record)`` takes a record dict instead. ``dropped``
    counts records lost to a full buffer or a failed write; ``on_drop()`` is
    called for each. ``close()`` writes what is buffered and stops the thread.
    ``model``, ``version``, ``features`` and their ``types`` describe what this server captures.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        rate: float = 1.0,
        max_pending: int = 10_000,
        on_drop: Callable[[], None] | None = None,
        format: str | None = None,
        model: str = "",
        version: str = "",
        features: list[str] | tuple[str, ...] = (),
        types: list[str] | tuple[str, ...] = (),
        batch_rows: int = 8192,
        linger: float | None = None,
        max_file_bytes: int | None = None,
    ) -> None:
        chosen = format or os.environ.get("CLOUDEPLOY_CAPTURE_FORMAT") or "raw"
        if chosen not in FORMATS:
            raise ValueError(f"capture format must be one of {', '.join(FORMATS)}, got {chosen!r}")
        self.directory = Path(directory)
        self.rate = rate
        self.format = chosen
        self._model, self._version, self._features = model, version, list(features)
        self._raw: RawSpool | None = None
        if chosen == "raw":
            self._raw = RawSpool(
                self.directory, model=model, version=version, features=self._features, types=types,
                max_pending=max_pending, linger=0.1 if linger is None else linger,
                max_file_bytes=max_file_bytes or 64 << 20, on_drop=on_drop,
            )
            self.add = self._raw.add  # type: ignore[method-assign]  # the request path: one call, no hop
            self.submit = self._raw.submit  # type: ignore[method-assign]
            return
        self._dropped = 0
        self._on_drop = on_drop
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sink: _JsonlSink | _ArrowSink = (
            _ArrowSink(self.directory, max_file_bytes or 256 << 20) if chosen == "arrow" else _JsonlSink(self.directory)
        )
        self._batch_rows = batch_rows
        self._linger = 0.05 if linger is None else linger
        self._closing = threading.Event()
        if chosen == "arrow":
            # pyarrow's first conversion imports pandas (~1 s): the thread does it now, in the
            # background, so the first captured requests are not held up behind it.
            self._start()

    @property
    def dropped(self) -> int:
        return self._raw.dropped if self._raw is not None else self._dropped

    def add(self, request_id: str, body: bytes, answer: bytes, latency_ms: float,
            request_csv: bool = False, answer_csv: bool = False,
            rows: list[list[Any]] | None = None, predictions: list[Any] | None = None) -> None:
        """Capture one answered request (for the raw format, replaced by :meth:`RawSpool.add`)."""
        self.submit({
            "ts": time.time(), "request_id": request_id, "model": self._model, "version": self._version,
            "features": self._features, "instances": rows or [], "predictions": predictions or [],
            "latency_ms": latency_ms,
        })

    def sampled(self) -> bool:
        return self.rate >= 1.0 or (self.rate > 0.0 and random.random() < self.rate)

    def submit(self, record: dict[str, Any]) -> None:
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop()

    def close(self, timeout: float | None = 10.0) -> None:
        if self._raw is not None:
            self._raw.close(timeout)
            return
        thread = self._thread
        self._closing.set()
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cloudeploy-capture", daemon=True)
                thread.start()
                self._thread = thread

    def _drop(self, count: int = 1) -> None:
        self._dropped += count
        if self._on_drop is not None:
            for _ in range(count):
                self._on_drop()

    def _run(self) -> None:
        if self.format == "arrow":
            pa.array([0.0])
        try:
            stopping = False
            while not stopping:
                batch, stopping = self._next_batch()
                if batch:
                    try:
                        self._sink.write(batch)
                    except Exception as error:  # noqa: BLE001 - a capture problem never stops serving
                        if self._dropped == 0:
                            logger.warning("capture: dropping records: %s", error)
                        self._drop(len(batch))
        finally:
            self._sink.close()

    def _next_batch(self) -> tuple[list[dict[str, Any]], bool]:
        """Records for one write: the next one, then what arrived within ``linger``, up to ``batch_rows``.

        The thread sleeps through the linger instead of waiting on the queue, so
        requests submitting records never wake it (one wake-up per batch, not per
        request: a thread woken per record takes the GIL from the event loop
        thousands of times a second).
        """
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch, rows = [first], _rows_of(first)
        if self.format == "jsonl":
            return batch, False  # a line per record, written at once as before
        if self._queue.qsize() < self._batch_rows:
            self._closing.wait(self._linger)  # close() cuts the linger short
        while rows < self._batch_rows:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                break
            if record is _STOP:
                return batch, True
            batch.append(record)
            rows += _rows_of(record)
        return batch, False


def _rows_of(record: Any) -> int:
    if isinstance(record, tuple):
        return max(len(record[6]), 1)
    instances = record.get("instances")
    return len(instances) if isinstance(instances, list) else 1


class _JsonlSink:
    """One JSON object per record and line, flushed per line."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._handle: IO[bytes] | None = None
        self._path: Path | None = None

    def write(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            path = capture_path(self.directory, record.get("ts", time.time()))
            if path != self._path:
                self.close()
                private_dir(self.directory)
                self._handle, self._path = open(path, "ab", opener=private_opener), path  # noqa: SIM115
            assert self._handle is not None
            self._handle.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle, self._path = None, None


class _ArrowSink:
    """Record batches appended to an Arrow IPC stream per hour, rotated as the module says."""

    def __init__(self, directory: Path, max_file_bytes: int) -> None:
        self.directory = directory
        self.max_file_bytes = max_file_bytes
        self._writer: Any = None
        self._file: Any = None
        self._hour: str | None = None
        self._schema: Any = None

    def write(self, records: list[Any]) -> None:
        groups: dict[tuple[int, tuple[str, ...]], list[Any]] = {}
        for record in records:
            ts = record[0] if isinstance(record, tuple) else record.setdefault("ts", time.time())
            names = record[4] if isinstance(record, tuple) else tuple(record.get("features") or ())
            groups.setdefault((int(ts // 3600), names), []).append(record)
        for (hour, names), group in groups.items():
            items = pack_many(group)
            self._append(time.strftime("%Y%m%d%H", time.gmtime(hour * 3600)), items[0][0],
                         record_batch(list(names), items, self._schema))

    def _append(self, hour: str, ts: float, batch: Any) -> None:
        if (
            self._writer is None
            or hour != self._hour
            or not batch.schema.equals(self._schema, check_metadata=True)
            or self._file.tell() >= self.max_file_bytes
        ):
            self.close()
            self._open(hour, ts, batch.schema)
        self._writer.write_batch(batch)
        self._file.flush()

    def _open(self, hour: str, ts: float, schema: Any) -> None:
        private_dir(self.directory)
        sequence = 0
        while (path := capture_path(self.directory, ts, suffix="arrow", sequence=sequence)).exists():
            sequence += 1  # never append a second stream to a file (a restarted pid, a rotation)
        private_file(path)  # 0600 before a byte is written
        self._file = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._file, schema)
        self._hour, self._schema = hour, schema

    def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()  # the end-of-stream marker
            finally:
                self._file.close()
        self._writer = self._file = None
        self._hour = None


def pack(record: dict[str, Any]) -> tuple:
    """A record as the tuple :func:`record_batch` takes: numeric instances as one float64
    array; rows with strings, booleans or None stay lists."""
    instances = record.get("instances")
    instances = instances if isinstance(instances, list) else []
    values: Any = instances
    if instances:
        try:
            array = np.asarray(instances)
        except (ValueError, TypeError):  # ragged rows
            array = None
        if array is not None and array.ndim == 2 and array.dtype.kind in "fiu":
            values = array.astype(np.float64, copy=False)
    answers = record.get("predictions")
    answers = tuple(answers) if isinstance(answers, list) and len(answers) == len(instances) else (None,) * len(instances)
    return (
        float(record.get("ts", time.time())),
        str(record.get("request_id", "")),
        str(record.get("model", "")),
        str(record.get("version", "")),
        tuple(record.get("features") or ()),
        values,
        answers,
        float(record.get("latency_ms", 0.0)),
    )


def pack_many(records: list[Any]) -> list[tuple]:
    """:func:`pack` for many records at once: their numeric rows become one float matrix in a
    single conversion (the writer thread's work, off the request path)."""
    dicts = [r for r in records if isinstance(r, dict)]
    if not dicts:
        return list(records)
    rows = [row for r in dicts if isinstance(r.get("instances"), list) for row in r["instances"]]
    matrix = None
    if rows:
        try:
            array = np.array(rows)
        except (ValueError, TypeError):
            array = None
        if array is not None and array.ndim == 2 and array.dtype.kind in "fiu":
            matrix = array.astype(np.float64, copy=False)
    if matrix is None:
        return [pack(r) if isinstance(r, dict) else r for r in records]
    packed, start = [], 0
    for record in records:
        if not isinstance(record, dict):
            packed.append(record)
            continue
        instances = record.get("instances") if isinstance(record.get("instances"), list) else []
        n = len(instances)
        answers = record.get("predictions")
        answers = tuple(answers) if isinstance(answers, list) and len(answers) == n else (None,) * n
        packed.append((float(record.get("ts", 0.0)), str(record.get("request_id", "")), str(record.get("model", "")),
                       str(record.get("version", "")), tuple(record.get("features") or ()), matrix[start:start + n],
                       answers, float(record.get("latency_ms", 0.0))))
        start += n
    return packed


def record_batch(names: list[str], records: list[Any], schema: Any = None) -> Any:
    """The records (dicts or :func:`pack` tuples, all with feature list ``names``) as one
    Arrow record batch, a row per instance.

    ``schema``, the open file's, is tried first so that batches keep one schema
    (a column of floats stays float64 in a batch whose values happen to be whole).
    """
    items = [pack(r) if isinstance(r, dict) else r for r in records]
    counts = np.fromiter((len(item[6]) for item in items), dtype=np.int64, count=len(items))
    arrays = [
        pa.array(np.repeat(np.fromiter((i[0] for i in items), np.float64, len(items)), counts)),
        pa.array(np.repeat(np.array([i[1] for i in items], dtype=object), counts), pa.string()),
        pa.array(np.repeat(np.array([i[2] for i in items], dtype=object), counts), pa.string()),
        pa.array(np.repeat(np.array([i[3] for i in items], dtype=object), counts), pa.string()),
        pa.array(np.repeat(np.fromiter((i[7] for i in items), np.float64, len(items)), counts)),
        pa.array((np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)).astype(np.int32)),
    ]
    fields = [pa.field(name, array.type) for name, array in zip(META_COLUMNS, arrays, strict=True)]
    known = {field.name: field.type for field in schema} if schema is not None else {}
    for name, array in zip(names, _feature_arrays(names, items, known), strict=True):
        arrays.append(array)
        fields.append(pa.field(feature_column(name), array.type))
    predictions = [answer for item in items for answer in item[6]]
    prediction = _prediction_array(predictions, known.get(PREDICTION_COLUMN))
    arrays.append(prediction)
    fields.append(pa.field(PREDICTION_COLUMN, prediction.type))
    metadata = {b"cloudeploy.features": "\x1f".join(names).encode()}
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def _feature_arrays(names: list[str], items: list[tuple], known: dict[str, Any]) -> list[Any]:
    """One array per feature: straight from the float matrices when every request was numeric."""
    matrices = [item[5] for item in items]
    if matrices and all(isinstance(m, np.ndarray) and m.shape[1] == len(names) for m in matrices):
        wanted = [known.get(feature_column(n)) for n in names]
        if all(w is None or pa.types.is_float64(w) for w in wanted):
            columns = np.ascontiguousarray(np.concatenate(matrices).T)
            return [pa.array(column, from_pandas=True) for column in columns]  # NaN (was None) -> null
    rows = [row for m in matrices for row in (m.tolist() if isinstance(m, np.ndarray) else m)]
    return [_feature_array(column, known.get(feature_column(name)))
            for name, column in zip(names, _columns(rows, len(names)), strict=True)]


def feature_column(name: str) -> str:
    """A feature's column name: prefixed, so a feature called ``ts`` cannot collide."""
    return f"f:{name}"


def _columns(rows: list[Any], width: int) -> list[list[Any]]:
    """Rows to columns; a row of the wrong width (the server refuses those) pads with None."""
    if rows and all(isinstance(r, (list, tuple)) and len(r) == width for r in rows):
        return [list(column) for column in zip(*rows, strict=True)]
    return [
        [r[i] if isinstance(r, (list, tuple)) and i < len(r) else None for r in rows]
        for i in range(width)
    ]


def _feature_array(values: list[Any], wanted: Any) -> Any:
    if wanted is not None:
        try:
            return _typed(values, wanted)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass  # a new schema, and a new file
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present) and present:
        return pa.array(values, pa.bool_())
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.float64())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _typed(values: list[Any], wanted: Any) -> Any:
    """``values`` as an array of the file's type; pyarrow refuses what does not convert."""
    if pa.types.is_string(wanted):
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values], pa.string())
    if pa.types.is_boolean(wanted) and not all(v is None or v is True or v is False for v in values):
        raise TypeError("not booleans")
    return pa.array(values, wanted)  # float64: numbers (and booleans, as 0/1) only


def _prediction_array(values: list[Any], wanted: Any) -> Any:
    if wanted is not None:
        try:
            array = pa.array(values, wanted)
            if not pa.types.is_string(wanted) or all(v is None or isinstance(v, str) for v in values):
                return array
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass
    try:
        array = pa.array(values)
        if not pa.types.is_null(array.type) and not pa.types.is_struct(array.type):
            return array
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        pass
    # Mixed, nested or empty answers: JSON text, in large_string (the reader's cue to decode it).
    encoded = [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode() for v in values]
    return pa.array(encoded, pa.large_string())
