"""Properties that must hold for any input, checked with hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.stats import js_divergence

finite = st.floats(min_value=-1e100, max_value=1e100, allow_nan=False, allow_infinity=False)
counts = st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=30)


@settings(max_examples=60, deadline=None)
@given(counts, st.data())
def test_jsd_is_symmetric_and_within_zero_one(p, data):
    q = data.draw(st.lists(st.integers(0, 1000), min_size=len(p), max_size=len(p)))
    if sum(p) == 0 or sum(q) == 0:
        return
    score = js_divergence(p, q)
    assert 0.0 <= score <= 1.0
    assert abs(score - js_divergence(q, p)) < 1e-12


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 400), elements=finite),
    st.lists(st.integers(1, 50), min_size=1, max_size=8),
)
def test_any_chunking_gives_the_same_baseline_histogram(values, cuts):
    column = values.reshape(-1, 1)
    bounds = np.cumsum(cuts)
    chunks = [c for c in np.split(column, bounds[bounds < len(column)]) if len(c)]
    streamed = compute_baseline(iter(chunks), bins=7)["features"][0]
    whole = compute_baseline(column, bins=7)["features"][0]
    assert (streamed["bin_edges"], streamed["bin_counts"]) == (
        whole["bin_edges"],
        whole["bin_counts"],
    )
    expected, _ = np.histogram(values, bins=np.array(whole["bin_edges"]))
    assert whole["bin_counts"] == expected.tolist()
