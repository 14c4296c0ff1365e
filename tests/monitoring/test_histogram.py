"""Serving histograms on the baseline's bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.histogram import serving_histograms

BASELINE = {
    "format": "cloudeploy-baseline/1",
    "rows": 4,
    "bins": 4,
    "features": [
        {
            "name": "x",
            "type": "numerical",
            "count": 4,
            "missing": 0,
            "bin_edges": [0.0, 1.0, 2.0, 3.0, 4.0],
            "bin_counts": [1, 1, 1, 1],
        },
        {
            "name": "c",
            "type": "categorical",
            "count": 4,
            "missing": 0,
            "categories": {"a": 2, "b": 2},
            "other": 0,
        },
    ],
}


def test_values_below_the_range_land_in_the_first_bin_and_above_in_the_last():
    histograms = serving_histograms([[-100.0, "a"], [0.5, "a"], [4.0, "a"], [99.0, "a"]], BASELINE)
    assert histograms["x"].counts.tolist() == [2, 0, 0, 2]


def test_bins_are_closed_on_the_left_like_numpy():
    histograms = serving_histograms([[1.0, "a"], [2.0, "a"], [3.0, "a"]], BASELINE)
    assert histograms["x"].counts.tolist() == [0, 1, 1, 1]


def test_missing_values_are_counted_apart_from_the_bins():
    histograms = serving_histograms([[None, None], [float("nan"), "a"], [1.5, "b"]], BASELINE)
    assert histograms["x"].missing == 2 and histograms["x"].count == 1
    assert histograms["c"].missing == 1 and histograms["c"].count == 2


def test_categories_unseen_in_training_are_counted():
    histograms = serving_histograms([[1.0, "a"], [1.0, "zzz"], [1.0, "zzz"]], BASELINE)
    assert dict(histograms["c"].categories) == {"a": 1, "zzz": 2}


def test_rows_as_dicts_arrays_and_frames_give_the_same_counts():
    rows = [[0.5, "a"], [2.5, "b"], [3.5, "b"]]
    frame = pd.DataFrame(rows, columns=["x", "c"])
    from_lists = serving_histograms(rows, BASELINE).to_dict()
    from_dicts = serving_histograms([{"x": r[0], "c": r[1]} for r in rows], BASELINE).to_dict()
    from_frame = serving_histograms(frame, BASELINE).to_dict()
    from_chunks = serving_histograms(iter([frame.iloc[:1], frame.iloc[1:]]), BASELINE).to_dict()
    assert from_lists == from_dicts == from_frame == from_chunks


def test_rows_are_counted():
    assert serving_histograms(np.array([[1.0, "a"]] * 7, dtype=object), BASELINE).rows == 7


def test_a_subset_of_features_can_be_histogrammed():
    histograms = serving_histograms([[1.0, "a"]], BASELINE, features=["c"])
    assert histograms.names == ["c"]


def test_an_unknown_feature_is_refused_naming_the_known_ones():
    with pytest.raises(ValidationError, match="unknown feature.*nope.*x, c"):
        serving_histograms([[1.0, "a"]], BASELINE, features=["nope"])


def test_rows_of_the_wrong_width_are_refused():
    with pytest.raises(ValidationError, match="row 0 has 1 values; expected 2"):
        serving_histograms([[1.0]], BASELINE)


def test_a_malformed_baseline_is_refused():
    with pytest.raises(ValidationError, match="not a cloudeploy baseline"):
        serving_histograms([[1.0]], {"x": 1})


def test_integer_categories_get_the_same_keys_as_in_training():
    baseline = {
        "features": [
            {
                "name": "zip",
                "type": "categorical",
                "categories": {"10115": 3, "75001": 1},
                "other": 0,
            }
        ]
    }
    histograms = serving_histograms([[10115], [75001], [10115]], baseline)
    assert dict(histograms["zip"].categories) == {"10115": 2, "75001": 1}


@pytest.mark.parametrize("seed", range(5))
def test_values_next_to_an_edge_land_on_its_correct_side(seed):
    rng = np.random.default_rng(seed)
    low, width, bins = rng.normal() * 1e3, rng.uniform(1e-3, 1e3), int(rng.integers(1, 30))
    edges = low + np.arange(bins + 1) * width
    baseline = {
        "features": [
            {
                "name": "x",
                "type": "numerical",
                "bin_edges": edges.tolist(),
                "bin_counts": [0] * bins,
            }
        ]
    }
    values = np.concatenate(
        [edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [np.inf, -np.inf]]
    )
    counted = serving_histograms(values.reshape(-1, 1), baseline)["x"].counts
    expected = np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=bins)
    assert counted.tolist() == expected.tolist()
