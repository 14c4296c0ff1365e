"""Sampled request/response capture for monitoring, as JSONL files.

The shared format (read by ``cloudeploy.monitoring``; keep it exactly):
``DIR/capture-<pid>-<YYYYmmddHH>.jsonl`` (UTC hour of the record), one JSON object
per request::

    {"ts": 1700000000.123, "request_id": "…", "model": "…", "version": "v2",
     "features": ["f1", …], "instances": [[…row in schema order…], …],
     "predictions": […], "latency_ms": 3.2}

Records are written by a background thread, appended and flushed per line. A
request never waits for the disk and never fails because of it: when the
in-memory queue is full, or the disk refuses a write, the record is dropped and
counted.
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

logger = logging.getLogger("cloudeploy.serving")

_STOP = object()


def capture_path(directory: Path, ts: float, pid: int | None = None) -> Path:
    """The file a record with timestamp ``ts`` goes to, for this process."""
    hour = time.strftime("%Y%m%d%H", time.gmtime(ts))
    return Path(directory) / f"capture-{pid or os.getpid()}-{hour}.jsonl"


class CaptureWriter:
    """Appends records to the capture files from one background thread.

    ``sampled()`` says whether this request should be captured (rate in 0..1);
    ``submit(record)`` never blocks. ``dropped`` counts records lost to a full
    queue or a failed write; ``on_drop()`` is called for each. ``close()`` writes
    what is queued and stops the thread.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        rate: float = 1.0,
        max_pending: int = 10_000,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.rate = rate
        self.dropped = 0
        self._on_drop = on_drop
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._handle: IO[bytes] | None = None
        self._handle_path: Path | None = None

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
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cloudeploy-capture", daemon=True)
                thread.start()
                self._thread = thread

    def _drop(self) -> None:
        self.dropped += 1
        if self._on_drop is not None:
            self._on_drop()

    def _run(self) -> None:
        import orjson

        try:
            while (record := self._queue.get()) is not _STOP:
                try:
                    handle = self._file_for(record.get("ts", time.time()))
                    handle.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
                    handle.flush()
                except (OSError, TypeError) as error:
                    if self.dropped == 0:
                        logger.warning("capture: dropping records: %s", error)
                    self._drop()
        finally:
            if self._handle is not None:
                self._handle.close()

    def _file_for(self, ts: float) -> IO[bytes]:
        path = capture_path(self.directory, ts)
        if path != self._handle_path:
            if self._handle is not None:
                self._handle.close()
                self._handle, self._handle_path = None, None
            self.directory.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("ab")
            self._handle_path = path
        assert self._handle is not None
        return self._handle
