"""PSI, KS, Wasserstein and chi² on binned counts, cross-checked against scipy on random data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import rel_entr
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.stattests import (
    PSI_EMPTY_SHARE,
    bin_centres,
    binned_std,
    chi2_test,
    ks_test,
    psi,
    wasserstein,
)


def _binned(rng, size, shift=0.0, bins=None):
    """Two normal samples binned on common equal-width edges: (edges, ref counts, cur counts, raw)."""
    a = rng.normal(0.0, 1.0, size)
    b = rng.normal(shift, rng.uniform(0.7, 1.3), int(rng.integers(size // 2, size * 2)))
    edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), bins or int(rng.integers(5, 40)) + 1)
    return edges, np.histogram(a, edges)[0], np.histogram(b, edges)[0], (a, b)


@pytest.mark.parametrize("seed", range(6))
def test_psi_equals_the_symmetrised_relative_entropy_of_scipy(seed):
    rng = np.random.default_rng(seed)
    _, p, q, _ = _binned(rng, 2000, shift=rng.uniform(-1, 1))
    p[0] = 0  # an empty bin on one side gets the 1e-4 share
    shares_p = np.where(p > 0, p / p.sum(), PSI_EMPTY_SHARE)
    shares_q = np.where(q > 0, q / q.sum(), PSI_EMPTY_SHARE)
    expected = float(np.sum(rel_entr(shares_q, shares_p) + rel_entr(shares_p, shares_q)))
    assert psi(p, q) == pytest.approx(expected, rel=1e-12)


def test_psi_of_identical_distributions_is_zero():
    assert psi([10, 20, 30], [1, 2, 3]) == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_ks_equals_scipy_on_the_binned_values(seed):
    rng = np.random.default_rng(seed)
    edges, p, q, _ = _binned(rng, int(rng.integers(200, 3000)), shift=rng.uniform(0, 0.4))
    centres = bin_centres(edges)
    expected = ks_2samp(np.repeat(centres, p), np.repeat(centres, q), method="asymp")
    statistic, p_value = ks_test(p, q)
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("seed", range(4))
def test_ks_equals_scipy_on_raw_integers_when_each_value_has_its_own_bin(seed):
    rng = np.random.default_rng(seed)
    a = rng.poisson(6, 1500)
    b = rng.poisson(6.4, 900)
    edges = np.arange(min(a.min(), b.min()), max(a.max(), b.max()) + 2) - 0.5
    statistic, p_value = ks_test(np.histogram(a, edges)[0], np.histogram(b, edges)[0])
    expected = ks_2samp(a, b, method="asymp")
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_binning_never_makes_the_ks_statistic_larger_than_on_raw_values(seed):
    rng = np.random.default_rng(seed)
    edges, p, q, (a, b) = _binned(rng, 1000, shift=0.3, bins=20)
    assert ks_test(p, q)[0] <= ks_2samp(a, b).statistic + 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_wasserstein_equals_scipy_on_bin_centres_over_the_scale(seed):
    rng = np.random.default_rng(seed)
    edges, p, q, (a, _) = _binned(rng, 2000, shift=rng.uniform(-1, 1))
    centres = bin_centres(edges)
    scale = float(a.std())
    expected = wasserstein_distance(centres, centres, p, q) / scale
    assert wasserstein(edges, p, q, scale) == pytest.approx(expected, rel=1e-9)


def test_wasserstein_equals_scipy_on_raw_integers_with_unit_bins():
    rng = np.random.default_rng(7)
    a, b = rng.poisson(5, 2000), rng.poisson(5.5, 1200)
    edges = np.arange(min(a.min(), b.min()), max(a.max(), b.max()) + 2) - 0.5
    score = wasserstein(edges, np.histogram(a, edges)[0], np.histogram(b, edges)[0], float(a.std()))
    assert score == pytest.approx(wasserstein_distance(a, b) / a.std(), rel=1e-9)


def test_wasserstein_divides_by_at_least_a_thousandth():
    edges = [0.0, 1.0, 2.0]
    assert wasserstein(edges, [1, 0], [0, 1], 0.0) == pytest.approx(1.0 / 1e-3)


def test_binned_std_matches_numpy_on_the_centres():
    edges, counts = [0.0, 1.0, 2.0, 3.0], [3, 1, 6]
    assert binned_std(edges, counts) == pytest.approx(np.repeat([0.5, 1.5, 2.5], counts).std())


@pytest.mark.parametrize("seed", range(6))
def test_chi2_equals_scipy_contingency_without_correction(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    p = rng.multinomial(int(rng.integers(50, 5000)), rng.dirichlet(np.ones(k)))
    q = rng.multinomial(int(rng.integers(50, 5000)), rng.dirichlet(np.ones(k)))
    q[0] += 1  # no column empty on both sides
    p[0] += 1
    expected = chi2_contingency(np.vstack([p, q]), correction=False)
    statistic, p_value = chi2_test(p, q)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_chi2_drops_categories_absent_on_both_sides_and_keeps_one_sided_ones():
    statistic, p_value = chi2_test([50, 0, 50, 0], [50, 0, 40, 10])
    expected = chi2_contingency(np.array([[50, 50, 0], [50, 40, 10]]), correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


def test_chi2_of_a_single_shared_category_cannot_differ():
    assert chi2_test([5, 0], [9, 0]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ks_test([1.5, 2], [1, 2]), "whole numbers"),
        (lambda: chi2_test([0, 0], [1, 1]), "empty"),
        (lambda: psi([1, 2], [1, 2, 3]), "different numbers of bins"),
        (lambda: psi([1, -2], [1, 2]), "non-negative"),
        (lambda: wasserstein([0, 1], [1, 2], [2, 1], 1.0), "do not fit"),
        (lambda: wasserstein([0, 1, 1], [1, 2], [2, 1], 1.0), "increasing"),
    ],
)
def test_bad_counts_are_refused_with_a_clear_error(call, message):
    with pytest.raises(ValidationError, match=message):
        call()
