"""Micro-batching: concurrent predict requests coalesced into one ``predict`` call.

A tree ensemble costs about the same to score 1 row as 64, so the server runs
every ``predict`` on one worker thread and, each time that thread is free, takes
*whatever is queued* (greedy, no timer) up to ``max_batch`` rows.
``batch_wait_ms`` holds a batch open a little longer, but only while the
previous batch showed concurrency and only as long as requests keep arriving
(a 0.5 ms quiet gap ends the wait).

Adaptive for a lone client: a request that finds the batcher idle, and is still
alone after the event loop has run everything else that was ready, is predicted
inline on the loop. That skips two thread wake-ups, which on a busy machine cost
more than the model; as soon as requests overlap they go to the worker thread and
are coalesced. Inline and worker predictions never run at the same time. Only a
fast model is predicted inline (recent predict calls under ``INLINE_BUDGET_S``):
a slow one would block the event loop, and with it health checks and metrics.

One bad request must not fail the others it was batched with: when a coalesced
call raises, each request is predicted on its own and only the culprit gets the
error.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

Predict = Callable[[list[list[Any]]], list[Any]]
BatchObserver = Callable[[int, int, float], None]

_STOP = object()
#: While holding a batch open, this long without a new request ends the wait.
QUIET_GAP_S = 0.0005
#: Predict inline on the event loop only while predict calls take less than this.
INLINE_BUDGET_S = 0.005


class _Item:
    __slots__ = ("rows", "future", "loop")

    def __init__(self, rows: list[list[Any]], future: asyncio.Future, loop: asyncio.AbstractEventLoop):
        self.rows = rows
        self.future = future
        self.loop = loop


class MicroBatcher:
    """Runs ``predict(rows) -> list`` (one output per row) on a single worker thread.

    ``submit(rows)`` is awaited on an event loop and returns that request's
    outputs, or raises what ``predict`` raised for it. ``pending`` counts
    submitted requests not yet answered (for admission control); it is only
    touched on the event loop. ``observe(rows, requests, seconds)`` is called on
    the worker thread after every predict call. The thread starts on first use,
    so an app mounted without lifespan events still works; ``close()`` stops it.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 64,
        batch_wait_ms: float = 0.0,
        observe: BatchObserver | None = None,
        inline_when_idle: bool = True,
    ) -> None:
        self._predict = predict
        self._max_batch = max_batch
        self._wait = batch_wait_ms / 1000.0
        self._gap = min(self._wait, QUIET_GAP_S)
        self._observe = observe
        self._inline_when_idle = inline_when_idle
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._last_batch_requests = 1
        self._recent_predict_s = 0.0  # moving average of predict call durations
        self.pending = 0

    async def submit(self, rows: list[list[Any]]) -> list[Any]:
        idle = self.pending == 0
        self.pending += 1
        try:
            fast = self._recent_predict_s < INLINE_BUDGET_S
            if idle and fast and self._inline_when_idle and len(rows) <= self._max_batch:
                # Let every request that is already readable reach submit() first.
                await asyncio.sleep(0)
                if self.pending == 1:
                    return self._predict_inline(rows)
            if self._thread is None:
                self._start()
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._queue.put(_Item(rows, future, loop))
            return await future
        finally:
            self.pending -= 1

    def _predict_inline(self, rows: list[list[Any]]) -> list[Any]:
        self._last_batch_requests = 1
        started = time.perf_counter()
        try:
            outputs = self._predict(rows)
        finally:
            self._note_duration(time.perf_counter() - started)
        if self._observe is not None:
            self._observe(len(rows), 1, time.perf_counter() - started)
        return outputs

    def _note_duration(self, seconds: float) -> None:
        self._recent_predict_s = 0.8 * self._recent_predict_s + 0.2 * seconds

    def close(self, timeout: float | None = 10.0) -> None:
        """Finish what is queued, then stop the worker thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cloudeploy-predict", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        carried: Any = None
        while True:
            first = carried if carried is not None else self._queue.get()
            carried = None
            if first is _STOP:
                return
            batch, carried = self._collect(first)
            self._predict_batch(batch)

    def _collect(self, first: _Item) -> tuple[list[_Item], Any]:
        """Take ``first`` plus whatever else fits; return the batch and an item to carry over."""
        batch = [first]
        size = len(first.rows)
        # Holding a batch open only pays while requests keep arriving: a lone
        # client, or clients that are all in this batch already, would make it
        # wait for nothing. So wait only after a batch that showed concurrency,
        # and stop at the first quiet gap.
        deadline = time.monotonic() + self._wait if self._wait and self._last_batch_requests > 1 else None
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic() if deadline is not None else 0.0
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=min(remaining, self._gap))
                except queue.Empty:
                    break
            if item is _STOP or size + len(item.rows) > self._max_batch:
                return batch, item
            batch.append(item)
            size += len(item.rows)
        return batch, None

    def _predict_batch(self, batch: list[_Item]) -> None:
        self._last_batch_requests = len(batch)
        rows = batch[0].rows if len(batch) == 1 else [row for item in batch for row in item.rows]
        started = time.perf_counter()
        try:
            outputs = self._predict(rows)
        except Exception as error:
            results: list[Any] = [error] if len(batch) == 1 else [self._predict_alone(item) for item in batch]
        else:
            results = []
            offset = 0
            for item in batch:
                results.append(outputs[offset : offset + len(item.rows)])
                offset += len(item.rows)
        self._note_duration(time.perf_counter() - started)
        if self._observe is not None:
            self._observe(len(rows), len(batch), time.perf_counter() - started)
        self._deliver(batch, results)

    def _predict_alone(self, item: _Item) -> Any:
        try:
            return self._predict(item.rows)
        except Exception as error:
            return error

    @staticmethod
    def _deliver(batch: list[_Item], results: list[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
        for item, result in zip(batch, results, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, result))
        for loop, pairs in by_loop.items():
            # A loop closed while we predicted has nobody waiting on it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future, Any]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
