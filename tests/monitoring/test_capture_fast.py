"""The fast block parsers agree with plain JSON parsing, and step aside when they cannot."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.capture import capture_histograms
from cloudeploy.monitoring.capture_fast import csv_columns, json_table_columns, shared_features
from cloudeploy.monitoring.histogram import serving_histograms

from .conftest import capture_record

NAMES = ["a", "b"]
KINDS = {"a": "numerical", "b": "numerical"}


def block_of(records: list[dict], dumps=orjson.dumps) -> bytes:
    return b"\n".join(dumps(r) if dumps is orjson.dumps else dumps(r).encode() for r in records)


@pytest.fixture
def records() -> list[dict]:
    return [
        capture_record(100.0, NAMES, [[1.5, -2.0]]),
        capture_record(101.0, NAMES, [[3.0, None], [1e-5, 7.0]]),
        capture_record(102.0, NAMES, [[0.0, 4.25]]),
    ]


def expected_matrix(records: list[dict]) -> np.ndarray:
    return np.array([row for r in records for row in r["instances"]], dtype=np.float64)


def as_matrix(columns: dict) -> np.ndarray:
    return np.column_stack([columns[name] for name in NAMES])


def test_shared_features_counts_records_with_the_same_list(records):
    assert shared_features(block_of(records)) == (NAMES, 3)


def test_shared_features_sees_a_different_list(records):
    records[1]["features"] = ["b", "a"]
    assert shared_features(block_of(records))[1] == 2


def test_the_csv_path_reads_every_instance(records):
    columns = csv_columns(block_of(records), NAMES, 3, KINDS)
    np.testing.assert_array_equal(as_matrix(columns), expected_matrix(records))


def test_the_json_table_path_reads_every_instance(records):
    columns = json_table_columns(block_of(records), NAMES, 3, since=None, until=None, version=None)
    np.testing.assert_array_equal(as_matrix(columns), expected_matrix(records))


def test_the_json_table_path_filters_by_time(records):
    columns = json_table_columns(
        block_of(records), NAMES, 3, since=101.0, until=102.0, version=None
    )
    np.testing.assert_array_equal(as_matrix(columns), expected_matrix(records[1:2]))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r[1].update(instances=[["x", 1.0]]),  # a string
        lambda r: r[1].update(instances=[[1.0, 2.0, 3.0]]),  # another width
    ],
)
def test_the_fast_paths_step_aside_for_irregular_blocks(records, change):
    change(records)
    block = block_of(records)
    assert csv_columns(block, NAMES, 3, KINDS) is None
    assert json_table_columns(block, NAMES, 3, since=None, until=None, version=None) is None


def test_a_record_without_instances_is_skipped_as_in_plain_parsing(records):
    records[1].pop("instances")
    block = block_of(records)
    assert csv_columns(block, NAMES, 3, KINDS) is None  # its count check fails
    columns = json_table_columns(block, NAMES, 3, since=None, until=None, version=None)
    np.testing.assert_array_equal(as_matrix(columns), expected_matrix([records[0], records[2]]))


def test_files_written_with_spaces_count_the_same(tmp_path, records):
    baseline = compute_baseline([[0.0, 0.0], [2.0, 5.0]], bins=4)
    for index, record in enumerate(records):
        record["features"] = ["x0", "x1"]
        record["ts"] = 1_763_632_800.0 + index
    (tmp_path / "capture-1-2025112010.jsonl").write_text(
        "\n".join(json.dumps(r) for r in records) + "\n"
    )
    counted = capture_histograms(tmp_path, baseline)
    assert counted.to_dict() == serving_histograms(expected_matrix(records), baseline).to_dict()


MIXED = {"a": "numerical", "b": "categorical"}


def test_the_csv_path_counts_categories_like_plain_parsing():
    records = [
        capture_record(100.0, NAMES, [[1.0, "Paris"], [2.0, "true"]]),
        capture_record(101.0, NAMES, [[3.0, True], [4.0, None]]),
        capture_record(102.0, NAMES, [[5.0, 'say "hi"'], [6.0, "Paris"]]),
    ]
    columns = csv_columns(block_of(records[:2]), NAMES, 2, MIXED)
    assert (columns["b"].counts, columns["b"].missing) == ({"Paris": 1, "true": 1, "True": 1}, 1)
    np.testing.assert_array_equal(columns["a"], [1.0, 2.0, 3.0, 4.0])
    assert csv_columns(block_of(records), NAMES, 3, MIXED) is None  # an escaped quote


@pytest.mark.parametrize(
    "instances",
    [
        [[1.0, "x]]y"], [2.0, "z"]],  # brackets in a string would cut the array short
        [[1.0, "a,b"]],  # a comma in a string
        [[1.0, "p"], None],  # a null row
    ],
)
def test_the_csv_path_steps_aside_for_strings_it_cannot_cut(instances):
    block = block_of([capture_record(100.0, NAMES, instances)])
    assert csv_columns(block, NAMES, 1, MIXED) is None


def test_strings_with_brackets_are_still_counted_exactly(tmp_path):
    baseline = compute_baseline([[0.0, "z"], [3.0, "x]]y"]], bins=3)
    rows = [[1.0, "x]]y"], [2.0, "z"], [2.5, "z"]]
    record = capture_record(1_763_632_800.0, ["x0", "x1"], rows)
    (tmp_path / "capture-1-2025112010.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    counted = capture_histograms(tmp_path, baseline)
    assert counted.to_dict() == serving_histograms(rows, baseline).to_dict()
