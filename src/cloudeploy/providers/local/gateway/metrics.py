"""Per-version request metrics kept by the gateway.

Two views of the same events: Prometheus counters and a latency histogram at
``/metrics`` for scraping, and a bounded in-memory log of recent requests that
answers "requests, errors and p99 of version v between t0 and t1" for promotion
gates. An error is a 5xx answer or a failed forward; 4xx answers are the
client's fault and are counted separately.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class WindowStats:
    version: str
    requests: int
    errors: int
    client_errors: int
    p50_ms: float | None
    p99_ms: float | None
    since: float
    until: float

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class VersionMetrics:
    """Thread-safe recorder of (time, latency, status) per version."""

    def __init__(self, max_events_per_version: int = 200_000) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cloudeploy_gateway_requests",
            "Requests forwarded by the gateway, by version and status code class.",
            ["version", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudeploy_gateway_latency_ms",
            "End-to-end latency through the gateway in milliseconds.",
            ["version"],
            buckets=LATENCY_BUCKETS_MS,
            registry=self.registry,
        )
        self._events: dict[str, deque[tuple[float, float, int]]] = {}
        self._max = max_events_per_version
        self._lock = threading.Lock()

    def record(self, version: str, status: int, latency_ms: float, at: float | None = None) -> None:
        at = time.time() if at is None else at
        self.requests.labels(version=version, code=f"{status // 100}xx").inc()
        self.latency.labels(version=version).observe(latency_ms)
        with self._lock:
            events = self._events.get(version)
            if events is None:
                events = self._events[version] = deque(maxlen=self._max)
            events.append((at, latency_ms, status))

    def window(self, version: str, since: float, until: float | None = None) -> WindowStats:
        until = time.time() if until is None else until
        with self._lock:
            events = list(self._events.get(version, ()))
        times = [e[0] for e in events]
        lo, hi = bisect.bisect_left(times, since), bisect.bisect_right(times, until)
        selected = events[lo:hi]
        latencies = np.array([e[1] for e in selected], dtype=float)
        errors = sum(1 for e in selected if e[2] >= 500)
        client_errors = sum(1 for e in selected if 400 <= e[2] < 500)
        return WindowStats(
            version=version,
            requests=len(selected),
            errors=errors,
            client_errors=client_errors,
            p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
            p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
            since=since,
            until=until,
        )
