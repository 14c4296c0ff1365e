"""Value types validate themselves and implement Vertex AI's traffic arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudeploy.errors import ValidationError
from cloudeploy.types import Scaling, TrafficSplit, normalize_version


@pytest.mark.parametrize("given_version", [7, "7", "v7", " v7 "])
def test_versions_normalise_to_v_label(given_version):
    assert normalize_version(given_version) == "v7"


@pytest.mark.parametrize("bad", ["v0", "x7", "7.1", "", "latest"])
def test_bad_version_labels_are_refused(bad):
    with pytest.raises(ValidationError, match="invalid version"):
        normalize_version(bad)


def test_split_must_sum_to_100():
    with pytest.raises(ValidationError, match="sum to 100, got 90"):
        TrafficSplit({"v1": 60, "v2": 30})


@pytest.mark.parametrize("percent", [-5, 101, 2.5, "10", True])
def test_split_percent_must_be_a_whole_number_in_range(percent):
    with pytest.raises(ValidationError):
        TrafficSplit({"v1": percent})


def test_empty_split_is_allowed():
    assert TrafficSplit({}).to_dict() == {}


def test_parse_cli_arguments():
    assert TrafficSplit.parse(["v1=90", "2=10"]).to_dict() == {"v1": 90, "v2": 10}


def test_parse_refuses_missing_equals_sign():
    with pytest.raises(ValidationError, match="VERSION=PERCENT"):
        TrafficSplit.parse(["v1:90"])


def test_new_version_shrinks_others_proportionally():
    split = TrafficSplit({"v1": 60, "v2": 40}).with_new_version("v3", 50)
    assert split.to_dict() == {"v1": 30, "v2": 20, "v3": 50}


def test_without_gives_the_share_to_the_others_proportionally():
    assert TrafficSplit({"v1": 50, "v2": 25, "v3": 25}).without("v1").to_dict() == {"v2": 50, "v3": 50}


@given(
    st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=100),
)
def test_new_version_always_sums_to_100(weights, percent):
    if sum(weights) == 0:
        weights[0] = 1
    total = sum(weights)
    raw = [w * 100 / total for w in weights]
    percents = [int(r) for r in raw]
    percents[0] += 100 - sum(percents)
    split = TrafficSplit({f"v{i + 1}": p for i, p in enumerate(percents)})
    result = split.with_new_version(f"v{len(percents) + 1}", percent)
    assert sum(result.values()) == 100
    assert result[f"v{len(percents) + 1}"] == percent


def test_scaling_refuses_min_above_max():
    with pytest.raises(ValidationError, match=r"min_replicas \(3\) is greater than max_replicas \(2\)"):
        Scaling(min_replicas=3, max_replicas=2)


def test_scaling_max_defaults_to_min():
    assert Scaling(min_replicas=2).max_replicas == 2


@pytest.mark.parametrize("kwargs", [{"min_replicas": 0}, {"min_replicas": 1.5}, {"target": -1}, {"metric": "gpu"}])
def test_scaling_refuses_bad_values(kwargs):
    with pytest.raises(ValidationError):
        Scaling(**kwargs)
