"""Training baselines: exact one-pass histograms, summary statistics, categories."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import OTHER, baseline_from_csv, compute_baseline
from cloudeploy.packaging.schema import Feature, InputSchema


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.column_stack([rng.normal(50, 10, 20_000), rng.exponential(2.0, 20_000)])


def feature(baseline: dict, name: str) -> dict:
    return next(f for f in baseline["features"] if f["name"] == name)


def test_numerical_counts_equal_numpy_histogram_on_the_stored_edges(data):
    stored = feature(compute_baseline(data, bins=20), "x0")
    expected, _ = np.histogram(data[:, 0], bins=np.array(stored["bin_edges"]))
    assert stored["bin_counts"] == expected.tolist()


@pytest.mark.parametrize(
    ("offset", "scale"), [(0.0, 1e-300), (1e12, 1.0), (-5e6, 1e3), (0.0, 1e90)]
)
def test_counts_are_exact_at_any_magnitude(offset, scale):
    values = offset + scale * np.random.default_rng(2).normal(size=(3000, 1))
    stored = feature(compute_baseline(iter([values[:10], values[10:]])), "x0")
    expected, _ = np.histogram(values[:, 0], bins=np.array(stored["bin_edges"]))
    assert stored["bin_counts"] == expected.tolist()
    assert stored["bin_edges"][0] <= values.min() and stored["bin_edges"][-1] >= values.max()
    width = stored["bin_edges"][1] - stored["bin_edges"][0]
    assert values.max() - values.min() > 19 * width  # the bins span the data, not a wider grid


def test_numerical_edges_are_equal_width_and_cover_the_range(data):
    stored = feature(compute_baseline(data, bins=20), "x1")
    edges = np.array(stored["bin_edges"])
    assert len(edges) == 21
    assert np.allclose(np.diff(edges), edges[1] - edges[0], rtol=1e-12)
    assert edges[0] <= data[:, 1].min() and edges[-1] >= data[:, 1].max()


def test_numerical_edges_reach_beyond_the_range_by_less_than_two_percent_of_a_bin(data):
    stored = feature(compute_baseline(data, bins=20), "x0")
    width = stored["bin_edges"][1] - stored["bin_edges"][0]
    overhang = (data[:, 0].min() - stored["bin_edges"][0]) + (
        stored["bin_edges"][-1] - data[:, 0].max()
    )
    assert overhang < 0.02 * width


def test_summary_statistics_match_numpy(data):
    stored = feature(compute_baseline(data), "x0")
    column = data[:, 0]
    assert stored["min"] == column.min() and stored["max"] == column.max()
    assert stored["mean"] == pytest.approx(column.mean(), rel=1e-12)
    assert stored["std"] == pytest.approx(column.std(), rel=1e-9)
    assert stored["count"] == len(column) and stored["missing"] == 0


def test_quantiles_are_within_one_grid_cell_of_the_order_statistic(data):
    stored = feature(compute_baseline(data, bins=20), "x0")
    cell = (
        2 * (data[:, 0].max() - data[:, 0].min()) / (20 * 2048)
    )  # the grid's cell is at most this
    for p, value in stored["quantiles"].items():
        exact = np.quantile(data[:, 0], float(p), method="inverted_cdf")
        assert abs(value - exact) <= cell


def test_streaming_chunks_give_the_same_histogram_as_in_memory(data):
    # The first chunk is narrow, later ones widen the range on both sides.
    order = np.argsort(np.abs(data[:, 0] - 50))
    shuffled = data[order]
    chunks = (shuffled[i : i + 777] for i in range(0, len(shuffled), 777))
    streamed, whole = compute_baseline(chunks), compute_baseline(data)
    for name in ("x0", "x1"):
        a, b = feature(streamed, name), feature(whole, name)
        assert a["bin_edges"] == b["bin_edges"]
        assert a["bin_counts"] == b["bin_counts"]
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-12)
        assert a["std"] == pytest.approx(b["std"], rel=1e-9)


def test_a_dataframe_gives_named_numerical_and_categorical_features():
    frame = pd.DataFrame({"age": [20, 30, 40, 50], "city": ["Paris", "Berlin", "Paris", "Rome"]})
    baseline = compute_baseline(frame)
    assert [f["name"] for f in baseline["features"]] == ["age", "city"]
    assert feature(baseline, "age")["type"] == "numerical"
    assert feature(baseline, "city")["categories"] == {"Paris": 2, "Berlin": 1, "Rome": 1}


def test_missing_values_are_counted_apart():
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": ["x", None, None]})
    baseline = compute_baseline(frame)
    assert (feature(baseline, "a")["count"], feature(baseline, "a")["missing"]) == (2, 1)
    assert (feature(baseline, "b")["count"], feature(baseline, "b")["missing"]) == (1, 2)


def test_nullable_integer_columns_are_numerical_with_missing_values():
    frame = pd.DataFrame({"rooms": pd.array([1, None, 3], dtype="Int64")})
    stored = feature(compute_baseline(frame), "rooms")
    assert (stored["type"], stored["count"], stored["missing"]) == ("numerical", 2, 1)


def test_rare_categories_beyond_max_categories_are_summed_in_other():
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2
    stored = feature(compute_baseline([[v] for v in values], max_categories=2), "x0")
    assert stored["categories"] == {"a": 5, "b": 4}
    assert stored["other"] == 5
    assert OTHER not in stored["categories"]


def test_the_schema_sets_names_and_types():
    schema = InputSchema(
        features=(Feature("zip", "string"), Feature("rooms", "integer")), named=True
    )
    frame = pd.DataFrame({"rooms": [1, 2, 2], "zip": [10115, 10115, 75001], "unused": [0, 0, 0]})
    baseline = compute_baseline(frame, schema)
    assert [f["name"] for f in baseline["features"]] == ["zip", "rooms"]
    assert feature(baseline, "zip")["categories"] == {"10115": 2, "75001": 1}
    assert feature(baseline, "rooms")["type"] == "numerical"


def test_rows_as_lists_and_rows_as_dicts_agree():
    rows = [[1.0, "a"], [2.0, "b"], [2.5, "a"]]
    as_lists = compute_baseline(rows)
    as_dicts = compute_baseline([{"x0": r[0], "x1": r[1]} for r in rows])
    assert as_lists["features"] == as_dicts["features"]


def test_a_constant_feature_gets_a_finite_bin_holding_every_value():
    stored = feature(compute_baseline(np.full((10, 1), 3.0), bins=5), "x0")
    edges = stored["bin_edges"]
    assert sum(stored["bin_counts"]) == 10
    holding = stored["bin_counts"].index(10)
    assert edges[holding] <= 3.0 < edges[holding + 1]


def test_the_baseline_is_json_ready(data):
    baseline = compute_baseline(pd.DataFrame({"v": data[:, 0], "c": ["a", "b"] * 10_000}))
    assert json.loads(json.dumps(baseline)) == baseline


def test_csv_streaming_equals_in_memory(tmp_path, data):
    frame = pd.DataFrame({"price": data[:, 0], "kind": np.where(data[:, 1] > 2, "big", "small")})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    schema = InputSchema(features=(Feature("price"), Feature("kind", "string")), named=True)
    assert (
        baseline_from_csv(path, schema, chunk_rows=999)["features"]
        == compute_baseline(frame, schema)["features"]
    )


def test_csv_without_a_schema_column_names_it(tmp_path):
    path = tmp_path / "train.csv"
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(ValidationError, match="no column.*b"):
        baseline_from_csv(path, InputSchema(features=(Feature("b"),)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.arange(5.0), "2-D"),
        ("train.csv", "path"),
        (np.array([[1.0], [np.inf]]), "infinite"),
        (np.array([[1.0], [-1e200]]), "too large"),
        (np.full((3, 1), np.nan), "all missing"),
        ([], "empty"),
    ],
)
def test_bad_data_is_refused_with_a_clear_error(data, message):
    with pytest.raises(ValidationError, match=message):
        compute_baseline(data)


def test_a_string_in_a_numerical_feature_names_the_feature():
    schema = InputSchema(features=(Feature("price"),))
    with pytest.raises(ValidationError, match="'price'.*'cheap'"):
        compute_baseline([[1.0], ["cheap"]], schema)


def test_bins_must_be_a_positive_integer():
    with pytest.raises(ValidationError, match="bins"):
        compute_baseline(np.ones((2, 1)), bins=0)
