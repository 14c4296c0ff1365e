"""Which version, and which replica of it, serves a request.

A :class:`RoutingTable` is an immutable snapshot; the supervisor builds a new one
and swaps it in with a single assignment, so a request sees either the old split
or the new one, never a mix. Within a table, versions are dealt from a shuffled
deck of 100 turns, so the served split is exact over every hundred requests
yet in random order.
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
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    _deck: list[str] = field(default_factory=list, compare=False, repr=False)

    def pick_version(self) -> str | None:
        """The next version, dealt from a shuffled deck of 100 picks.

        The deck holds each version as many times as its percent, so every
        aligned run of 100 picks follows the split exactly (random picks drift
        by several points over a few hundred requests), while the shuffle keeps
        the order random, so a periodic client pattern (every 10th request
        different) cannot line up with a canary's turns. Versions without
        replicas are skipped; the rest share their turns.

        Not thread-safe: the gateway routes on its one event-loop thread.
        """
        eligible = {v for v, p in self.traffic.items() if p > 0 and self.replicas.get(v)}
        if not eligible:
            return None
        while True:
            if not self._deck:
                self._deck.extend(v for v in sorted(eligible) for _ in range(self.traffic[v]))
                self.rng.shuffle(self._deck)
            version = self._deck.pop()
            if version in eligible:
                return version

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
