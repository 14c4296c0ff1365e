"""The raw capture writer: request and answer bodies, as they are, framed as JSON lines.

The format is described in :mod:`cloudeploy.serving.capture` (``*.raw`` files).
:meth:`RawSpool.add` is what a request pays for being captured: one tuple
appended to a deque (atomic under the GIL: no lock, no condition, no thread woken)
after two length checks. The writer thread sleeps ``linger`` seconds at a time,
takes what piled up, frames it by byte concatenation (``bytes % tuple``; the
request id, which a client chose, is JSON-escaped by orjson; CSV bodies become
JSON strings) and writes it with one ``os.write``. Nothing is parsed or
converted, and a pending request is one small tuple of bytes, str and floats (no
lists or dicts for the collector to walk). pyarrow is never imported.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from cloudeploy.private import FILE_MODE, private_dir

logger = logging.getLogger("cloudeploy.serving")

MAGIC = "cloudeploy-raw/1"
END_LINE = b'{"capture_end":true}\n'
# ts to the microsecond, latency to the microsecond (in ms): fixed-point formatting
# costs half of repr's shortest round-trip form, and a float's repr was most of a frame.
_LINE = b'{"ts":%.6f,"request_id":%s,"latency_ms":%.3f,%s%s,%s%s}\n'
_REQUEST, _REQUEST_CSV = b'"request":', b'"request_csv":'
_RESPONSE, _RESPONSE_CSV = b'"response":', b'"response_csv":'


def raw_path(directory: Path, ts: float, sequence: int = 0, pid: int | None = None) -> Path:
    """``DIR/capture-<pid>-<YYYYmmddHH>[-<n>].raw`` for a record at epoch ``ts``."""
    hour = time.strftime("%Y%m%d%H", time.gmtime(ts))
    rotated = f"-{sequence}" if sequence else ""
    return Path(directory) / f"capture-{pid or os.getpid()}-{hour}{rotated}.raw"


class RawSpool:
    """Bounded buffer of captured requests plus the thread that writes them as raw lines.

    ``add(...)`` never blocks and never raises for a full buffer: past
    ``max_pending`` records or ``max_pending_bytes`` of bodies the record is
    dropped and counted (``dropped``, ``on_drop()``). ``submit(record)`` takes a
    record dict in the shared shape instead (written with orjson by the thread).
    ``close()`` writes what is buffered, ends the file and stops the thread.
    A file is ended and the next one begun at the UTC hour, after
    ``max_file_seconds`` and past ``max_file_bytes``, so that readers soon find
    finished files to compact.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        model: str = "",
        version: str = "",
        features: list[str] | tuple[str, ...] = (),
        types: list[str] | tuple[str, ...] = (),
        max_pending: int = 50_000,
        max_pending_bytes: int = 64 << 20,
        linger: float = 0.1,
        max_file_bytes: int = 64 << 20,
        max_file_seconds: float = 300.0,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.dropped = 0
        self._header = orjson.dumps(
            {"capture": MAGIC, "model": model, "version": version, "features": list(features),
             "types": list(types)}
        ) + b"\n"
        self._max_pending = max_pending
        self._max_bytes = max_pending_bytes
        self._linger = linger
        self._max_file_bytes = max_file_bytes
        self._max_file_seconds = max_file_seconds
        self._on_drop = on_drop
        self._pending: deque[Any] = deque()
        # Bytes added (only the request side writes it) and written (only the thread):
        # two counters, so neither side's update can be lost to the other's.
        self._added = 0
        self._taken = 0
        self._closing = threading.Event()
        self._fd = -1
        self._file_bytes = 0
        self._hour_end = 0.0  # the open file takes records with ts in [_hour_start, _hour_end)
        self._hour_start = 0.0
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="cloudeploy-capture", daemon=True)
        self._thread.start()

    # -- request side ---------------------------------------------------------

    def add(self, request_id: str, body: bytes, answer: bytes, latency_ms: float,
            request_csv: bool = False, answer_csv: bool = False, rows: Any = None, predictions: Any = None) -> None:
        """Capture one answered request; what the request path pays for it (``rows`` and
        ``predictions``, the parsed forms, are not kept: the bodies say the same)."""
        size = len(body) + len(answer)
        if len(self._pending) >= self._max_pending or self._added - self._taken + size > self._max_bytes:
            self._drop()
            return
        self._added += size
        self._pending.append((time.time(), request_id, latency_ms, body, answer, request_csv, answer_csv, size))

    def submit(self, record: dict[str, Any]) -> None:
        """Capture a record given in the shared shape (dict) instead of as bodies."""
        if len(self._pending) >= self._max_pending:
            self._drop()
            return
        self._pending.append(record)

    def close(self, timeout: float | None = 10.0) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _drop(self, count: int = 1) -> None:
        self.dropped += count
        if self._on_drop is not None:
            for _ in range(count):
                self._on_drop()

    # -- writer thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                stopping = self._closing.wait(self._linger)
                self._write_pending()
                if stopping:
                    self._write_pending()  # what arrived while the last batch was written
                    return
        finally:
            self._end_file()

    def _write_pending(self) -> None:
        pending = self._pending
        count = len(pending)
        if not count:
            return
        pop = pending.popleft
        items = [pop() for _ in range(count)]
        self._taken += sum(item[7] for item in items if type(item) is tuple)
        lines: list[bytes] = []
        retry = self._fd < 0  # a file that could not be opened is tried again once per batch
        for item in items:
            ts = item[0] if type(item) is tuple else float(item.setdefault("ts", time.time()))
            if retry or not (self._hour_start <= ts < self._hour_end) or self._file_bytes >= self._max_file_bytes:
                retry = False
                self._flush(lines)
                lines = []
                self._rotate(ts)
            line = _frame(item)
            self._file_bytes += len(line)
            lines.append(line)
        self._flush(lines)

    def _flush(self, lines: list[bytes]) -> None:
        if not lines:
            return
        if self._fd < 0:
            self._failed(len(lines), None)
            return
        data = memoryview(b"".join(lines))
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError as error:
            self._failed(len(lines), error)

    def _failed(self, count: int, error: OSError | None) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("capture: dropping records: %s", error or "no capture file could be opened")
        self._drop(count)

    def _rotate(self, ts: float) -> None:
        self._end_file()
        hour = int(ts // 3600) * 3600.0
        # Files end at the hour and after max_file_seconds, so readers find finished files to compact.
        self._hour_start, self._hour_end = hour, min(hour + 3600.0, max(ts, hour) + self._max_file_seconds)
        self._file_bytes = 0
        try:
            private_dir(self.directory)
            sequence = 0
            while True:  # never append to another stream (a restarted pid, a rotation)
                path = raw_path(self.directory, ts, sequence)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
                    break
                except FileExistsError:
                    sequence += 1
            os.fchmod(fd, FILE_MODE)
            os.write(fd, self._header)
        except OSError as error:
            self._fd = -1
            if not self._warned:
                self._warned = True
                logger.warning("capture: cannot open a capture file in %s: %s", self.directory, error)
            return
        self._fd = fd
        self._file_bytes = len(self._header)

    def _end_file(self) -> None:
        if self._fd >= 0:
            try:
                os.write(self._fd, END_LINE)
            except OSError:
                pass
            finally:
                os.close(self._fd)
        self._fd = -1


def _frame(item: Any) -> bytes:
    """One record as one JSON line, by formatting (bodies are embedded, not parsed)."""
    if type(item) is not tuple:
        return orjson.dumps(item, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    ts, request_id, latency_ms, body, answer, request_csv, answer_csv, _size = item
    if request_csv:
        request_key, body = _REQUEST_CSV, orjson.dumps(body.decode("utf-8", "replace"))
    else:
        request_key = _REQUEST
        # Valid JSON (the server parsed it) has newlines only between tokens.
        if b"\n" in body or b"\r" in body:
            body = body.replace(b"\r", b" ").replace(b"\n", b" ")
    if answer_csv:
        response_key, answer = _RESPONSE_CSV, orjson.dumps(answer.decode("utf-8", "replace"))
    else:
        response_key = _RESPONSE
    return _LINE % (ts, orjson.dumps(request_id), latency_ms, request_key, body, response_key, answer)
