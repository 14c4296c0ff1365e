"""The gateway's routing table: versions picked in exact proportion to their traffic."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from cloudeploy.providers.local.gateway.routing import Replica, RoutingTable


def _table(traffic: dict[str, int], *, without_replicas: tuple[str, ...] = ()) -> RoutingTable:
    replicas = {v: () if v in without_replicas else (Replica(v, 9000 + i, 1),) for i, v in enumerate(traffic)}
    return RoutingTable(replicas=replicas, traffic=traffic, revision=1)


def test_every_hundred_picks_follow_the_split_exactly():
    table = _table({"v1": 73, "v2": 20, "v3": 7})
    picks = [table.pick_version() for _ in range(300)]
    for start in range(0, 300, 100):
        assert Counter(picks[start : start + 100]) == {"v1": 73, "v2": 20, "v3": 7}


def test_an_even_split_alternates_instead_of_bursting():
    table = _table({"v1": 50, "v2": 50})
    picks = [table.pick_version() for _ in range(40)]
    assert max(len(list(run)) for _, run in groupby(picks)) == 1


def test_a_ten_percent_canary_is_spread_over_the_stream():
    table = _table({"v1": 90, "v2": 10})
    picks = [table.pick_version() for _ in range(200)]
    positions = [i for i, v in enumerate(picks) if v == "v2"]
    assert len(positions) == 20
    assert max(b - a for a, b in zip(positions, positions[1:], strict=False)) == 10


def test_versions_at_zero_or_without_replicas_get_nothing():
    table = _table({"v1": 60, "v2": 40, "v3": 0}, without_replicas=("v2",))
    assert {table.pick_version() for _ in range(50)} == {"v1"}


def test_no_version_with_traffic_and_replicas_picks_none():
    assert _table({"v1": 100}, without_replicas=("v1",)).pick_version() is None
