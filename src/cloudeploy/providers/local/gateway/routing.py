"""Which version, and which replica of it, serves a request.

A :class:`RoutingTable` is an immutable snapshot; the supervisor builds a new one
and swaps it in with a single assignment, so a request sees either the old split
or the new one, never a mix.
"""

from __future__ import annotations

import itertools
import random
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

    def pick_version(self, rng: random.Random | None = None) -> str | None:
        """A version drawn with probability proportional to its traffic percent."""
        weighted = [(v, p) for v, p in self.traffic.items() if p > 0 and self.replicas.get(v)]
        if not weighted:
            return None
        versions, weights = zip(*weighted, strict=True)
        return (rng or random).choices(versions, weights=weights, k=1)[0]

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
