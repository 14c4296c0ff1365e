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


category = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.sampled_from(["]]", "],[", 'a"b', "x,y", "\\", "null"]),
)
number = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
request = st.lists(st.tuples(number, category).map(list), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(request, min_size=1, max_size=12))
def test_capture_files_count_like_the_rows_they_hold(requests):
    import tempfile
    from pathlib import Path

    import orjson

    from cloudeploy.monitoring.capture import capture_histograms
    from cloudeploy.monitoring.histogram import serving_histograms

    baseline = compute_baseline([[0.0, "a"], [1.0, "b"]], bins=5)
    with tempfile.TemporaryDirectory() as directory:
        lines = [
            orjson.dumps({"ts": 1_763_632_800.0 + i, "features": ["x0", "x1"], "instances": rows})
            for i, rows in enumerate(requests)
        ]
        (Path(directory) / "capture-1-2025112010.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        counted = capture_histograms(directory, baseline).to_dict()
    rows = [row for rows in requests for row in rows]
    assert counted == serving_histograms(rows, baseline).to_dict()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7199), request), min_size=1, max_size=12),
    st.integers(0, 7200),
    st.integers(0, 7200),
)
def test_filtered_capture_files_count_like_the_rows_in_the_window(timed, start, stop):
    import tempfile
    from pathlib import Path

    import orjson

    from cloudeploy.monitoring.capture import capture_filename, capture_histograms
    from cloudeploy.monitoring.histogram import serving_histograms

    hour = 1_763_632_800.0
    numeric = [(offset, [[row[0], row[0]] for row in rows]) for offset, rows in timed]
    baseline = compute_baseline([[0.0, 0.0], [1.0, 1.0]], bins=5)
    with tempfile.TemporaryDirectory() as directory:
        for offset, rows in numeric:
            path = Path(directory) / capture_filename(1, hour + offset)
            line = {"ts": hour + offset, "features": ["x0", "x1"], "instances": rows}
            with path.open("ab") as handle:
                handle.write(orjson.dumps(line) + b"\n")
        counted = capture_histograms(directory, baseline, since=hour + start, until=hour + stop)
    kept = [row for offset, rows in numeric if start <= offset < stop for row in rows]
    expected = serving_histograms(kept, baseline) if kept else None
    for name in ("x0", "x1"):
        counts = expected[name].counts.tolist() if expected else [0] * 5
        assert counted[name].counts.tolist() == counts
