"""The two distances against hand-computed cases and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.stats import js_distance, js_divergence, linf_distance


def test_jsd_of_disjoint_supports_is_one():
    assert js_divergence([1, 0], [0, 1]) == 1.0


def test_jsd_of_identical_histograms_is_zero():
    assert js_divergence([3, 1, 0, 6], [3, 1, 0, 6]) == 0.0


def test_jsd_of_half_half_against_point_mass_matches_hand_computation():
    # M = (0.75, 0.25); ½·KL(P‖M) + ½·KL(Q‖M) simplifies to 1.5 − 0.75·log2(3).
    assert js_divergence([0.5, 0.5], [1, 0]) == pytest.approx(1.5 - 0.75 * math.log2(3), abs=1e-12)


def test_jsd_normalises_counts_so_scale_does_not_matter():
    assert js_divergence([1, 3], [2, 2]) == pytest.approx(js_divergence([10, 30], [0.5, 0.5]))


def test_jsd_is_symmetric():
    assert js_divergence([1, 2, 7], [4, 4, 2]) == pytest.approx(js_divergence([4, 4, 2], [1, 2, 7]))


@pytest.mark.parametrize("seed", range(8))
def test_jsd_equals_squared_scipy_distance_on_random_distributions(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 40))
    p, q = rng.random(size), rng.random(size)
    p[rng.random(size) < 0.2] = 0  # some empty bins on each side
    q[rng.random(size) < 0.2] = 0
    p[0] += 0.1
    q[-1] += 0.1
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)


def test_js_distance_is_the_square_root_of_the_divergence():
    assert js_distance([1, 3], [3, 1]) == pytest.approx(math.sqrt(js_divergence([1, 3], [3, 1])))


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0, 0], [1, 1], "empty"),
        ([1, 1], [1, 1, 1], "different numbers of bins"),
        ([1, -1], [1, 1], "non-negative"),
        ([], [], "non-empty"),
    ],
)
def test_jsd_refuses_bad_histograms_with_a_clear_error(p, q, message):
    with pytest.raises(ValidationError, match=message):
        js_divergence(p, q)


def test_linf_is_the_largest_frequency_difference():
    assert linf_distance({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.8}) == pytest.approx(0.3)


def test_linf_counts_categories_unseen_in_the_baseline():
    assert linf_distance({"a": 10}, {"a": 6, "c": 4}) == pytest.approx(0.4)


def test_linf_counts_categories_missing_from_serving():
    assert linf_distance({"a": 1, "b": 3}, {"a": 5}) == pytest.approx(0.75)


def test_linf_of_identical_distributions_is_zero():
    assert linf_distance({"a": 2, "b": 1}, {"a": 4, "b": 2}) == 0.0


def test_linf_of_disjoint_categories_is_one():
    assert linf_distance({"a": 3}, {"b": 1}) == 1.0


def test_linf_refuses_an_empty_side():
    with pytest.raises(ValidationError, match="serving categories is empty"):
        linf_distance({"a": 1}, {})
