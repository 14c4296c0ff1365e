"""The gateway's routing table: versions dealt in exact proportion to their traffic, in random order."""

from __future__ import annotations

import random
from collections import Counter

from cloudeploy.providers.local.gateway.routing import Replica, RoutingTable


def _table(traffic: dict[str, int], *, without_replicas: tuple[str, ...] = (), seed: int = 0) -> RoutingTable:
    replicas = {v: () if v in without_replicas else (Replica(v, 9000 + i, 1),) for i, v in enumerate(traffic)}
    return RoutingTable(replicas=replicas, traffic=traffic, revision=1, rng=random.Random(seed))


def test_every_hundred_picks_follow_the_split_exactly():
    table = _table({"v1": 73, "v2": 20, "v3": 7})
    picks = [table.pick_version() for _ in range(300)]
    for start in range(0, 300, 100):
        assert Counter(picks[start : start + 100]) == {"v1": 73, "v2": 20, "v3": 7}


def test_a_periodic_request_pattern_reaches_a_canary_in_proportion():
    """Every 10th request is special (as in the rollout tests' poison stream); a 10%
    canary must get about a tenth of them, not all or none as a fixed rotation would."""
    for seed in range(5):
        table = _table({"v1": 90, "v2": 10}, seed=seed)
        picks = [table.pick_version() for _ in range(2000)]
        special_to_canary = sum(picks[i] == "v2" for i in range(9, 2000, 10))
        assert 5 <= special_to_canary <= 40


def test_versions_at_zero_or_without_replicas_get_nothing():
    table = _table({"v1": 60, "v2": 40, "v3": 0}, without_replicas=("v2",))
    assert {table.pick_version() for _ in range(50)} == {"v1"}


def test_no_version_with_traffic_and_replicas_picks_none():
    assert _table({"v1": 100}, without_replicas=("v1",)).pick_version() is None
