"""Which version, and which replica of it, serves a request.

A :class:`RoutingTable` is an immutable snapshot; the supervisor builds a new one
and swaps it in with a single assignment, so a request sees either the old split
or the new one, never a mix. Within a table, versions are picked by smooth
weighted round-robin, so the observed split is the configured one over any
hundred requests (not only on average, as with random picks).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass(eq=False)
class Replica:
    """One model-server process serving one version."""

    version: str
    port: int
    pid: int
    host: str = "127.0.0.1"
    in_flight: int = 0
    healthy: bool = True

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class RoutingTable:
    """Replicas per version and the traffic percentages between versions."""

    replicas: dict[str, tuple[Replica, ...]] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    revision: int = 0
    _counter: itertools.count = field(default_factory=itertools.count, compare=False)
    _credit: dict[str, int] = field(default_factory=dict, compare=False)

    def pick_version(self) -> str | None:
        """The next version by smooth weighted round-robin (nginx's): over any 100
        consecutive picks each version gets exactly its percent, interleaved rather
        than in bursts. Versions without replicas are skipped (the rest share it).

        Not thread-safe: the gateway routes on its one event-loop thread.
        """
        weighted = [(v, p) for v, p in self.traffic.items() if p > 0 and self.replicas.get(v)]
        if not weighted:
            return None
        best = None
        for version, percent in weighted:
            self._credit[version] = self._credit.get(version, 0) + percent
            if best is None or self._credit[version] > self._credit[best]:
                best = version
        self._credit[best] -= sum(p for _, p in weighted)
        return best

    def pick_replica(self, version: str, exclude: tuple[Replica, ...] = ()) -> Replica | None:
        """The healthy replica of ``version`` with the fewest requests in flight
        (ties broken round-robin), skipping ``exclude``."""
        candidates = [r for r in self.replicas.get(version, ()) if r.healthy and r not in exclude]
        if not candidates:
            return None
        start = next(self._counter) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=lambda r: r.in_flight)

    def all_replicas(self) -> list[Replica]:
        return [r for replicas in self.replicas.values() for r in replicas]
