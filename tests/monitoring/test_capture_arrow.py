"""Columnar capture: what the server's writer puts in Arrow streams, and monitoring reading it back."""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime

import numpy as np
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.capture import capture_files, capture_histograms, read_capture
from cloudeploy.serving.capture import CaptureWriter, _ArrowSink

from .conftest import capture_record, write_capture

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
NAMES = ["a", "b", "c"]


def write_arrow(directory, records, **options):
    """Records through the server's writer (copies: the writer may add a ts), closed at the end."""
    writer = CaptureWriter(directory, format="arrow", **options)
    for record in records:
        writer.submit(copy.deepcopy(record))
    writer.close()
    assert writer.dropped == 0
    return writer


def mixed_records(count=40, start=HOUR, version="v1"):
    rng = np.random.default_rng(3)
    records = []
    for i in range(count):
        rows = [[float(rng.normal()), str(rng.choice(["x", "y", "z"])), bool(rng.random() < 0.5)]
                for _ in range(1 + i % 3)]
        if i % 7 == 0:
            rows[0][0], rows[0][1] = None, None  # missing values stay missing
        records.append(capture_record(start + i, NAMES, rows, version=version, predictions=[i % 2] * len(rows)))
    return records


@pytest.fixture(scope="module")
def baseline():
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [[float(rng.normal()), str(rng.choice(["x", "y", "w"])), bool(rng.random() < 0.3)] for _ in range(500)]
    return compute_baseline(pd.DataFrame(rows, columns=NAMES))


def test_records_come_back_as_written(tmp_path):
    records = mixed_records()
    write_arrow(tmp_path, records)
    assert [p.suffix for p in capture_files(tmp_path)] == [".arrow"]
    assert list(read_capture(tmp_path)) == records


@pytest.mark.parametrize(
    "predictions",
    [["cat", "dog"], [[0.2, 0.8], [0.9, 0.1]], [{"label": 1}, {"label": 0}], [1, 2.5], [None, None]],
)
def test_every_kind_of_prediction_comes_back(tmp_path, predictions):
    record = capture_record(HOUR, NAMES, [[1.0, "x", True], [2.0, "y", False]], predictions=predictions)
    write_arrow(tmp_path, [record])
    assert list(read_capture(tmp_path))[0]["predictions"] == predictions


def test_histograms_from_arrow_equal_those_from_the_same_records_in_jsonl(tmp_path, baseline):
    records = mixed_records(200)
    write_arrow(tmp_path / "arrow", records)
    write_capture(tmp_path / "jsonl", records)
    from_arrow = capture_histograms(tmp_path / "arrow", baseline).to_dict()
    from_jsonl = capture_histograms(tmp_path / "jsonl", baseline).to_dict()
    assert from_arrow == from_jsonl
    assert from_arrow["rows"] == sum(len(r["instances"]) for r in records)


def test_filters_by_time_and_version_like_jsonl(tmp_path, baseline):
    records = mixed_records(60) + mixed_records(30, start=HOUR + 100, version="v2")
    write_arrow(tmp_path / "arrow", records)
    write_capture(tmp_path / "jsonl", records)
    window = {"since": HOUR + 10, "until": HOUR + 110, "version": "v1"}
    assert capture_histograms(tmp_path / "arrow", baseline, **window).to_dict() == \
        capture_histograms(tmp_path / "jsonl", baseline, **window).to_dict()
    kept = list(read_capture(tmp_path / "arrow", **window))
    assert [r["ts"] for r in kept] == [HOUR + i for i in range(10, 60)]


def test_a_stream_still_being_written_is_read_up_to_its_last_batch(tmp_path):
    sink = _ArrowSink(tmp_path, max_file_bytes=1 << 30)
    first, second = mixed_records(5), mixed_records(3, start=HOUR + 50)
    sink.write(copy.deepcopy(first))
    assert list(read_capture(tmp_path)) == first  # no end-of-stream marker yet
    sink.write(copy.deepcopy(second))
    path = capture_files(tmp_path)[0]
    torn = tmp_path / "torn"
    torn.mkdir()
    data = path.read_bytes()
    (torn / path.name).write_bytes(data[: len(data) - 40])  # the second batch cut short
    assert list(read_capture(torn)) == first
    sink.close()
    assert list(read_capture(tmp_path)) == first + second


def test_an_empty_or_headless_file_reads_as_no_records(tmp_path):
    (tmp_path / "capture-7-2026112010.arrow").write_bytes(b"")
    (tmp_path / "capture-8-2026112010.arrow").write_bytes(b"\xff\xff\xff")
    assert list(read_capture(tmp_path)) == []


def test_files_rotate_at_the_size_limit_and_read_back_in_order(tmp_path):
    records = mixed_records(50)
    sink = _ArrowSink(tmp_path, max_file_bytes=2000)
    for record in copy.deepcopy(records):
        sink.write([record])
    sink.close()
    files = capture_files(tmp_path)
    assert len(files) > 2
    assert list(read_capture(tmp_path)) == records


def test_a_type_change_opens_a_new_file_instead_of_failing(tmp_path):
    numbers = capture_record(HOUR, NAMES, [[1.0, "x", True]])
    text = capture_record(HOUR + 1, NAMES, [["oops", "x", True]])
    sink = _ArrowSink(tmp_path, max_file_bytes=1 << 30)
    sink.write([copy.deepcopy(numbers)])
    sink.write([copy.deepcopy(text)])
    sink.close()
    assert len(capture_files(tmp_path)) == 2
    assert [r["instances"] for r in read_capture(tmp_path)] == [[[1.0, "x", True]], [["oops", "x", True]]]


def test_records_of_another_hour_go_to_that_hours_file(tmp_path):
    write_arrow(tmp_path, mixed_records(3) + mixed_records(2, start=HOUR + 3600))
    assert [p.name.split("-")[2] for p in capture_files(tmp_path)] == ["2026112010.arrow", "2026112011.arrow"]
    assert capture_files(tmp_path, since=HOUR + 3600)[0].name.endswith("2026112011.arrow")


def test_a_directory_with_both_formats_reads_both(tmp_path, baseline):
    write_arrow(tmp_path, mixed_records(10))
    write_capture(tmp_path, mixed_records(10, start=HOUR + 20), pid=5)
    assert len(list(read_capture(tmp_path))) == 20
    assert capture_histograms(tmp_path, baseline).rows == sum(
        len(r["instances"]) for r in mixed_records(10) + mixed_records(10, start=HOUR + 20))


def test_a_monitored_feature_missing_from_the_captures_is_named(tmp_path, baseline):
    write_arrow(tmp_path, [capture_record(HOUR, ["a", "z"], [[1.0, 2.0]])])
    with pytest.raises(ValidationError, match="no feature"):
        capture_histograms(tmp_path, baseline)


def test_close_writes_what_is_still_lingering(tmp_path):
    writer = CaptureWriter(tmp_path, format="arrow", linger=30.0, batch_rows=10_000)
    writer.submit(capture_record(HOUR, NAMES, [[1.0, "x", True]]))
    writer.close()
    assert len(list(read_capture(tmp_path))) == 1


def test_jsonl_is_still_written_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_CAPTURE_FORMAT", "jsonl")
    record = capture_record(HOUR, NAMES, [[1.0, "x", True]])
    writer = CaptureWriter(tmp_path)
    writer.submit(copy.deepcopy(record))
    writer.close()
    assert [p.suffix for p in capture_files(tmp_path)] == [".jsonl"]
    assert list(read_capture(tmp_path)) == [record]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="capture format must be one of raw, arrow, jsonl"):
        CaptureWriter("/nonexistent", format="parquet")


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    drops = []
    writer = CaptureWriter(tmp_path, format="arrow", max_pending=1, on_drop=lambda: drops.append(1),
                           linger=0.5)
    for i in range(200):
        writer.submit(capture_record(HOUR + i, NAMES, [[1.0, "x", True]]))
    writer.close()
    kept = len(list(read_capture(tmp_path)))
    assert writer.dropped == len(drops) > 0
    assert kept + writer.dropped == 200
    shutil.rmtree(tmp_path)


def test_capture_columns_give_the_same_rows_from_both_formats(tmp_path):
    from cloudeploy.monitoring.capture import capture_columns

    records = mixed_records(30)
    write_arrow(tmp_path / "arrow", records)
    write_capture(tmp_path / "jsonl", records)
    window = {"since": HOUR + 5, "until": HOUR + 25}

    def rows(folder):
        chunks = list(capture_columns(folder, ["c", "a"], **window))
        return [
            (bool(c), None if a is None or a != a else float(a))
            for chunk in chunks for c, a in zip(chunk["c"], chunk["a"], strict=True)
        ]

    assert rows(tmp_path / "arrow") == rows(tmp_path / "jsonl")
    assert len(rows(tmp_path / "arrow")) == sum(len(r["instances"]) for r in records[5:25])
