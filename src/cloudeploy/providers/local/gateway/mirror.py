"""Shadow traffic on the local gateway: copy a share of served requests to a candidate version.

The gateway answers every client from the version the split picked; only
*after* that answer is built does :meth:`Mirror.offer` (a hook in the gateway's
forward path) draw the request for mirroring with probability ``share`` and put a
copy on a bounded queue without waiting. A few worker tasks send the copies to
the candidate's replicas and record both answers; a full queue drops the copy
(counted in ``dropped``), so a slow or broken candidate can never slow clients
down or fail their requests. Requests pinned to a version are never copied.

Admin routes (under ``/_cloudeploy/shadow``):

- ``POST {"version": "v2", "share": 0.5}`` starts mirroring to ``v2`` (which
  must be deployed, with replicas) and clears what an earlier run recorded;
- ``GET ?since=T0&until=T1`` returns the run's records in the window: for the
  serving version and the candidate, ``[status, latency_ms, predictions]`` per
  mirrored request (status 0: no answer in time), the (serving, candidate)
  answer pairs per row, and the ``mirrored``/``dropped`` counts;
- ``DELETE`` stops mirroring (idempotent).

State lives in the gateway's memory: a restarted gateway mirrors nothing until
told again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from cloudeploy.providers.local.gateway.supervisor import Supervisor

QUEUE_SIZE = 512
WORKERS = 4
#: Records kept per run (requests for each version, and row pairs); the oldest go first.
MAX_RECORDS = 50_000
#: The most records one window read returns (the latest).
MAX_WINDOW = 10_000
COPY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class _Copy:
    at: float
    path: str
    body: bytes
    headers: dict[str, str]
    serving_predictions: Any


class Mirror:
    """Copies requests to one candidate version at a time; see the module docstring."""

    def __init__(self, supervisor: Supervisor, *, queue_size: int = QUEUE_SIZE, workers: int = WORKERS) -> None:
        self.supervisor = supervisor
        self.queue_size = queue_size
        self.workers = workers
        self.version: str | None = None
        self.share = 0.0
        self.started_at: float | None = None
        self.mirrored = 0
        self.dropped = 0
        self._queue: asyncio.Queue[_Copy] | None = None
        self._tasks: list[asyncio.Task] = []
        self._client: httpx.AsyncClient | None = None
        self._serving: deque[tuple[float, int, float, Any]] = deque(maxlen=MAX_RECORDS)
        self._candidate: deque[tuple[float, int, float | None, Any]] = deque(maxlen=MAX_RECORDS)
        self._pairs: deque[tuple[float, Any, Any]] = deque(maxlen=MAX_RECORDS)

    # -- the hook on the answer path ---------------------------------------------------

    def offer(self, *, version: str, path: str, body: bytes, headers: dict[str, str], status: int,
              latency_ms: float, content: bytes = b"", content_type: str = "",
              predictions: list[Any] | None = None) -> None:
        """Maybe copy a request the gateway just answered from ``version``. Never blocks, never raises.

        ``predictions``: the answer already parsed (the gateway parses each answer once);
        else ``content`` is parsed here.
        """
        candidate, queue = self.version, self._queue
        if candidate is None or queue is None or version == candidate or random.random() >= self.share:
            return
        now = time.time()
        if predictions is None and status < 400:
            predictions = parse_predictions(content, content_type)
        elif status >= 400:
            predictions = None
        try:
            queue.put_nowait(_Copy(now, path, body, headers, predictions))
        except asyncio.QueueFull:
            self.dropped += 1
            return
        self.mirrored += 1
        self._serving.append((now, status, latency_ms, predictions))

    # -- control -----------------------------------------------------------------------

    async def start(self, version: str, share: float) -> None:
        await self.stop()
        self.version, self.share, self.started_at = version, share, time.time()
        self.mirrored = self.dropped = 0
        self._serving.clear()
        self._candidate.clear()
        self._pairs.clear()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(COPY_TIMEOUT_S, connect=2.0),
                                         limits=httpx.Limits(max_connections=self.workers * 2))
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._tasks = [asyncio.create_task(self._work(self._queue)) for _ in range(self.workers)]

    async def stop(self) -> None:
        """Stop copying; records stay readable until the next start."""
        self.version, self._queue = None, None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def _work(self, queue: asyncio.Queue[_Copy]) -> None:
        while True:
            copy = await queue.get()
            try:
                await self._send(copy)
            except Exception:  # a copy must never take the worker down
                self._candidate.append((copy.at, 500, None, None))

    async def _send(self, copy: _Copy) -> None:
        version, client = self.version, self._client
        if version is None or client is None:
            return
        replica = self.supervisor.table.pick_replica(version)
        if replica is None:
            self._candidate.append((copy.at, 503, None, None))
            return
        started = time.perf_counter()
        replica.in_flight += 1
        try:
            answer = await client.post(f"{replica.url}{copy.path}", content=copy.body, headers=copy.headers)
        except httpx.TimeoutException:
            self._candidate.append((copy.at, 0, (time.perf_counter() - started) * 1000, None))
            return
        except httpx.TransportError:
            self._candidate.append((copy.at, 502, (time.perf_counter() - started) * 1000, None))
            return
        finally:
            replica.in_flight -= 1
        latency_ms = (time.perf_counter() - started) * 1000
        predictions = None
        if answer.status_code < 400:
            predictions = parse_predictions(answer.content, answer.headers.get("content-type", ""))
        self._candidate.append((copy.at, answer.status_code, latency_ms, predictions))
        if isinstance(copy.serving_predictions, list) and isinstance(predictions, list) and len(
            copy.serving_predictions
        ) == len(predictions):
            for served, shadowed in zip(copy.serving_predictions, predictions, strict=True):
                self._pairs.append((copy.at, served, shadowed))

    # -- reading -------------------------------------------------------------------------

    def window(self, since: float, until: float) -> dict[str, Any]:
        return {
            "version": self.version,
            "share": self.share,
            "started_at": self.started_at,
            "mirrored": self.mirrored,
            "dropped": self.dropped,
            "serving": [list(r[1:]) for r in _between(self._serving, since, until)],
            "candidate": [list(r[1:]) for r in _between(self._candidate, since, until)],
            "pairs": [list(r[1:]) for r in _between(self._pairs, since, until)],
        }

    def routes(self, endpoint: str) -> list[Route]:
        """The admin routes of this mirror (see the module docstring)."""

        async def control(request: Request) -> Response:
            if request.method == "DELETE":
                await self.stop()
                return JSONResponse({"endpoint": endpoint, "version": None})
            if request.method == "GET":
                try:
                    since = float(request.query_params.get("since", 0))
                    until = float(request.query_params.get("until") or time.time())
                except ValueError as error:
                    return _error(400, f"bad window query: {error}")
                return JSONResponse({"endpoint": endpoint, **self.window(since, until)})
            try:
                data = json.loads(await request.body() or b"{}")
                version, share = str(data["version"]), float(data.get("share", 1.0))
            except (ValueError, KeyError, TypeError) as error:
                return _error(400, f"bad shadow request: {error}")
            if not 0 < share <= 1:
                return _error(400, f"share must be in (0, 1], got {share}")
            if not self.supervisor.table.replicas.get(version):
                return _error(409, f"version {version} has no replica on endpoint {endpoint}: "
                                   "deploy it with --traffic 0 (and at least one replica) first")
            await self.start(version, share)
            return JSONResponse({"endpoint": endpoint, "version": version, "share": share,
                                 "started_at": self.started_at})

        return [Route("/_cloudeploy/shadow", control, methods=["GET", "POST", "DELETE"])]


def _between(records: deque, since: float, until: float) -> list[tuple]:
    # Candidate answers arrive out of order (their time is the original request's): filter, not bisect.
    return [r for r in list(records) if since <= r[0] <= until][-MAX_WINDOW:]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


def parse_predictions(content: bytes, content_type: str) -> list[Any] | None:
    """The per-row predictions of a model server answer (JSON or CSV), or None if unreadable.

    Runs on the gateway's request path for every answer: JSON goes through orjson.
    """
    if "csv" not in content_type:
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            return None
        if isinstance(data, dict):
            data = data.get("predictions")
        return data if isinstance(data, list) else None
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return None
    rows = []
    for line in text.splitlines():
        if line.strip():
            cells = [_cell(c) for c in line.split(",")]
            rows.append(cells[0] if len(cells) == 1 else cells)
    return rows


def _cell(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
