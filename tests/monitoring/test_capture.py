"""Reading capture files: filters, partial lines, and histograms straight from files."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.capture import capture_files, capture_histograms, read_capture
from cloudeploy.monitoring.histogram import serving_histograms

from .conftest import capture_record, write_capture

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
NAMES = ["a", "b", "c"]


@pytest.fixture
def rows() -> np.ndarray:
    return np.round(np.random.default_rng(5).normal(size=(600, 3)), 4)


@pytest.fixture
def baseline(rows) -> dict:
    import pandas as pd

    return compute_baseline(pd.DataFrame(rows, columns=NAMES))


def write_rows(directory, rows, *, start=HOUR, per_request=1, pid=100, version="v1"):
    records = [
        capture_record(start + i, NAMES, rows[i : i + per_request].tolist(), version=version)
        for i in range(0, len(rows), per_request)
    ]
    return write_capture(directory, records, pid=pid)


def test_records_come_back_as_written(capture_dir):
    record = capture_record(HOUR, NAMES, [[1.0, 2.0, 3.0]])
    write_capture(capture_dir, [record])
    assert list(read_capture(capture_dir)) == [record]


def test_a_partially_written_last_line_is_skipped(capture_dir):
    path = write_capture(capture_dir, [capture_record(HOUR, NAMES, [[1.0, 2.0, 3.0]])])
    with path.open("ab") as handle:
        handle.write(orjson.dumps(capture_record(HOUR + 1, NAMES, [[4.0, 5.0, 6.0]]))[:40])
    assert [r["ts"] for r in read_capture(capture_dir)] == [HOUR]


def test_a_complete_last_line_without_newline_is_kept(capture_dir):
    path = capture_dir / "capture-1-2026112010.jsonl"
    capture_dir.mkdir()
    path.write_bytes(orjson.dumps(capture_record(HOUR, NAMES, [[1.0, 2.0, 3.0]])))
    assert len(list(read_capture(capture_dir))) == 1


@pytest.mark.parametrize("block_bytes", [50, 1 << 20])
def test_a_malformed_line_in_the_middle_is_skipped_with_a_warning(capture_dir, caplog, block_bytes):
    path = write_capture(
        capture_dir, [capture_record(HOUR + i, NAMES, [[1.0, 2.0, 3.0]]) for i in range(3)]
    )
    with path.open("ab") as handle:
        handle.write(b"{not json\n")
        handle.write(orjson.dumps(capture_record(HOUR + 9, NAMES, [[1.0, 2.0, 3.0]])) + b"\n")
    with caplog.at_level(logging.WARNING, logger="cloudeploy.monitoring.capture"):
        records = list(read_capture(capture_dir, block_bytes=block_bytes))
    assert [r["ts"] - HOUR for r in records] == [0, 1, 2, 9]
    assert f"{path}:4:" in caplog.text


def test_records_are_filtered_by_time_and_version(capture_dir):
    write_capture(
        capture_dir,
        [capture_record(HOUR + i, NAMES, [[i, i, i]], version=f"v{1 + i % 2}") for i in range(10)],
    )
    kept = read_capture(capture_dir, since=HOUR + 2, until=HOUR + 8, version="v1")
    assert [r["ts"] - HOUR for r in kept] == [2, 4, 6]


def test_files_of_hours_outside_the_window_are_not_opened(capture_dir):
    write_capture(capture_dir, [capture_record(HOUR, NAMES, [[1, 2, 3]])])
    later = write_capture(capture_dir, [capture_record(HOUR + 7200, NAMES, [[1, 2, 3]])])
    assert capture_files(capture_dir, since=HOUR + 3600) == [later.resolve()]


def test_a_file_given_twice_is_read_once(capture_dir):
    path = write_capture(capture_dir, [capture_record(HOUR, NAMES, [[1, 2, 3]])])
    assert len(list(read_capture([capture_dir, path]))) == 1


def test_iso_times_are_accepted(capture_dir):
    write_capture(
        capture_dir, [capture_record(HOUR + i * 60, NAMES, [[1, 2, 3]]) for i in range(3)]
    )
    kept = read_capture(capture_dir, since="2026-11-20T10:01:00Z")
    assert len(list(kept)) == 2


def test_a_missing_capture_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        capture_files(tmp_path / "nowhere")


def test_histograms_from_files_equal_histograms_of_the_rows(capture_dir, rows, baseline):
    write_rows(capture_dir, rows, per_request=3)
    from_files = capture_histograms(capture_dir, baseline)
    assert from_files.to_dict() == serving_histograms(rows, baseline).to_dict()


def test_histograms_from_files_do_not_depend_on_block_size(capture_dir, rows, baseline):
    write_rows(capture_dir, rows[:300], pid=1)
    write_rows(capture_dir, rows[300:], pid=2)
    small_blocks = capture_histograms(capture_dir, baseline, block_bytes=1000)
    assert small_blocks.to_dict() == capture_histograms(capture_dir, baseline).to_dict()


def test_histograms_from_files_apply_the_filters(capture_dir, rows, baseline):
    write_rows(capture_dir, rows[:100], version="v1", pid=1)
    write_rows(capture_dir, rows[100:250], version="v2", pid=2)
    counted = capture_histograms(capture_dir, baseline, version="v2", since=HOUR + 50)
    assert counted.to_dict() == serving_histograms(rows[150:250], baseline).to_dict()


def test_null_values_in_captures_count_as_missing(capture_dir, baseline):
    write_capture(capture_dir, [capture_record(HOUR, NAMES, [[None, 1.0, 2.0], [0.5, None, 1.0]])])
    counted = capture_histograms(capture_dir, baseline)
    assert (counted["a"].missing, counted["a"].count) == (1, 1)


def test_categorical_captures_are_counted_exactly(capture_dir):
    baseline = compute_baseline([[1.0, "x"], [2.0, "y"]])
    write_capture(capture_dir, [capture_record(HOUR, ["x0", "x1"], [[1.5, "x"], [1.0, "new"]])])
    counted = capture_histograms(capture_dir, baseline)
    assert dict(counted["x1"].categories) == {"x": 1, "new": 1}


def test_records_with_other_feature_lists_are_matched_by_name(capture_dir, baseline):
    write_capture(
        capture_dir,
        [
            capture_record(HOUR, NAMES, [[0.1, 0.2, 0.3]]),
            capture_record(HOUR + 1, ["c", "b", "a"], [[0.3, 0.2, 0.1]]),
        ],
    )
    counted = capture_histograms(capture_dir, baseline)
    expected = serving_histograms([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], baseline)
    assert counted.to_dict() == expected.to_dict()


def test_captures_lacking_a_monitored_feature_are_refused(capture_dir, baseline):
    write_capture(capture_dir, [capture_record(HOUR, ["a", "b"], [[0.1, 0.2]])])
    with pytest.raises(ValidationError, match="no feature.*c"):
        capture_histograms(capture_dir, baseline)


def test_skew_reads_capture_directories(capture_dir, rows, baseline):
    from cloudeploy.monitoring.detection import compute_skew

    write_rows(capture_dir, rows)
    result = compute_skew(baseline, capture_dir)
    assert result.serving_rows == len(rows)
    assert all(f.score == 0.0 for f in result.features)


def test_drift_from_capture_compares_the_last_two_windows(capture_dir, rows, baseline):
    from cloudeploy.monitoring.detection import compute_drift_from_capture
    from cloudeploy.monitoring.spec import MonitorSpec

    shifted = rows + np.array([3.0, 0.0, 0.0])
    write_rows(capture_dir, rows[:300], start=HOUR, pid=1)
    write_rows(capture_dir, shifted[300:], start=HOUR + 600, pid=2)
    spec = MonitorSpec(window=600, drift_thresholds={"a": 0.1})
    result = compute_drift_from_capture(capture_dir, baseline, spec, now=HOUR + 1200)
    assert (result.baseline_rows, result.serving_rows) == (300, 300)
    assert [f.name for f in result.breached] == ["a"]


def test_feature_names_with_brackets_are_matched_exactly(capture_dir):
    baseline = compute_baseline([[0.0, 1.0], [1.0, 2.0]])
    first = capture_record(HOUR, ["x0]", "x0", "x1"], [[9.0, 0.5, 0.5]])
    second = capture_record(HOUR + 1, ["x0]", "x1", "x0"], [[9.0, 1.5, 0.25]])
    write_capture(capture_dir, [first, second])
    counted = capture_histograms(capture_dir, baseline)
    expected = serving_histograms([[0.5, 0.5], [0.25, 1.5]], baseline)
    assert counted.to_dict() == expected.to_dict()
