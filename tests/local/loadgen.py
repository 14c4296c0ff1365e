"""A small bounded load generator for tests: threads, one HTTP client each.

It stops after ``max_requests`` or ``max_seconds``, whichever comes first, or when
told to. Each result records when the request started and ended, its status and
the version that answered, so tests can slice the stream by time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Result:
    started: float
    ended: float
    status: int
    version: str
    error: str = ""


@dataclass
class LoadGenerator:
    url: str
    body: dict
    concurrency: int = 8
    max_requests: int = 5000
    max_seconds: float = 120.0
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._issued = 0

    def _take_ticket(self) -> bool:
        with self._lock:
            if self._issued >= self.max_requests:
                return False
            self._issued += 1
            return True

    def _worker(self, deadline: float) -> None:
        with httpx.Client(timeout=30.0) as client:
            while not self._stop.is_set() and time.monotonic() < deadline and self._take_ticket():
                started = time.monotonic()
                try:
                    answer = client.post(self.url, json=self.body)
                    result = Result(started, time.monotonic(), answer.status_code,
                                    answer.headers.get("x-cloudeploy-version", ""))
                except httpx.HTTPError as error:
                    result = Result(started, time.monotonic(), 0, "", f"{type(error).__name__}: {error}")
                with self._lock:
                    self.results.append(result)

    def start(self) -> LoadGenerator:
        deadline = time.monotonic() + self.max_seconds
        self._threads = [threading.Thread(target=self._worker, args=(deadline,), daemon=True)
                         for _ in range(self.concurrency)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Result]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.results

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        """Block until ``n`` results exist in total (or the generator ran out)."""
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline and any(t.is_alive() for t in self._threads):
            time.sleep(0.02)

    def between(self, start: float, end: float) -> list[Result]:
        with self._lock:
            return [r for r in self.results if r.started >= start and r.ended <= end]
