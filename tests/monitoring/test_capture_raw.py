"""Raw capture: the server keeps the bodies it received and sent, monitoring reads them back."""

from __future__ import annotations

import json
import stat
import time
import warnings
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from cloudeploy.monitoring import capture_raw
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.capture import (
    capture_columns,
    capture_files,
    capture_histograms,
    read_capture,
)
from cloudeploy.serving.capture import CaptureWriter
from cloudeploy.serving.capture_raw import RawSpool

from .conftest import write_capture

with warnings.catch_warnings():  # starlette nags about httpx; the client works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CITIES = ["lyon", "nice", "paris"]
NAMES = ["area", "city"]
HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from cloudeploy.packaging import build_package

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"area": rng.normal(80, 20, 60), "city": rng.choice(CITIES, 60)})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(frame, (frame.area > 80).astype(int))
    return build_package(model, tmp_path_factory.mktemp("raw") / "pkg", name="houses")


@pytest.fixture(scope="module")
def served(package, tmp_path_factory):
    """Requests of every shape sent to a capturing server, its answers, and its capture folder."""
    from cloudeploy.packaging import load_package
    from cloudeploy.serving import ServerSettings, create_app

    folder = tmp_path_factory.mktemp("captured") / "capture"
    settings = ServerSettings(capture_dir=folder, version="v2")
    sent = []
    with TestClient(create_app(load_package(package.path), settings)) as client:
        def post(path, content, content_type, request_id, accept=None):
            headers = {"content-type": content_type, "x-request-id": request_id}
            if accept:
                headers["accept"] = accept
            answer = client.post(path, content=content, headers=headers)
            assert answer.status_code == 200, answer.text
            sent.append(request_id)
            return answer

        answers = {
            "lists": post("/predict", b'{"instances":[[70.5,"lyon"],[95.0,"paris"]]}', "application/json", "lists"),
            "objects": post("/predict", json.dumps({"instances": [{"city": "nice", "area": 81}]}, indent=2).encode(),
                            "application/json", "objects"),
            "bare": post("/invocations", b"[[60.0, \"nice\"]]", "application/json", "bare"),
            "csv": post("/invocations", b"area,city\n88.5,paris\n70,lyon\n", "text/csv", "csv"),
            "exponent": post("/predict", b'{"instances":[[1e2,"nice"]]}', "application/json", "exponent"),
        }
        bad = client.post("/predict", content=b'{"instances":[[1,"rome"]]}', headers={"content-type": "application/json"})
        assert bad.status_code == 400
    return folder, answers


def test_every_request_shape_reads_back_in_feature_order(served):
    folder, answers = served
    records = {r["request_id"]: r for r in read_capture(folder, compact=False)}
    assert set(records) == set(answers)  # the refused request is not captured
    assert records["lists"]["instances"] == [[70.5, "lyon"], [95.0, "paris"]]
    assert records["objects"]["instances"] == [[81, "nice"]]
    assert records["bare"]["instances"] == [[60.0, "nice"]]
    assert records["csv"]["instances"] == [[88.5, "paris"], [70.0, "lyon"]]
    assert records["exponent"]["instances"] == [[100.0, "nice"]]
    for request_id, record in records.items():
        assert (record["model"], record["version"], record["features"]) == ("houses", "v2", NAMES)
        assert record["latency_ms"] > 0
        answer = answers[request_id]
        expected = (answer.json()["predictions"] if request_id != "csv"
                    else [float(line) for line in answer.text.split()])
        assert record["predictions"] == expected


def test_files_are_private_and_ended(served):
    folder, _ = served
    files = capture_files(folder)
    assert [f.suffix for f in files] == [".raw"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert capture_raw.finished(files[0])


def test_histograms_equal_those_of_the_same_records_in_jsonl(served, tmp_path):
    folder, _ = served
    records = list(read_capture(folder, compact=False))
    write_capture(tmp_path / "jsonl", records)
    baseline = compute_baseline(_frame([row for r in records for row in r["instances"]]))
    expected = capture_histograms(tmp_path / "jsonl", baseline).to_dict()
    assert capture_histograms(folder, baseline, compact=False).to_dict() == expected


def _frame(rows):
    import pandas as pd

    return pd.DataFrame([[np.nan if v is None else v for v in row] for row in rows], columns=NAMES)


def numeric_spool(directory, count, start=HOUR, **options):
    spool = RawSpool(directory, model="m", version="v1", features=["a", "b"], **options)
    rng = np.random.default_rng(1)
    for i in range(count):
        rows = rng.normal(size=(1 + i % 2, 2)).round(6).tolist()
        spool.submit({"ts": start + i, "request_id": str(i), "features": ["a", "b"], "instances": rows,
                      "predictions": [0.5] * len(rows)})
    return spool


def test_numeric_bodies_take_the_columnar_path_and_count_like_records(tmp_path, monkeypatch):
    spool = RawSpool(tmp_path, model="m", version="v1", features=["a", "b"], types=["number", "number"])
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(300, 2)).round(6)
    for i in range(0, 300, 3):
        body = orjson.dumps({"instances": rows[i:i + 3].tolist()})
        spool.add(str(i), body if i % 2 else body.replace(b":", b": "), b'{"predictions":[1,0,1]}', 1.0)
    spool.close()
    import pandas as pd

    baseline = compute_baseline(pd.DataFrame(rows, columns=["a", "b"]))
    from cloudeploy.monitoring import capture_fast

    calls = []
    real = capture_fast.csv_columns
    monkeypatch.setattr(capture_fast, "csv_columns", lambda *a: calls.append(real(*a)) or calls[-1])
    counted = capture_histograms(tmp_path, baseline, compact=False).to_dict()
    assert calls and calls[0] is not None  # compact and spaced bodies alike
    expected = capture_histograms(_as_jsonl(tmp_path), baseline).to_dict()
    assert counted == expected


def _as_jsonl(folder):
    target = folder / "as-jsonl"
    write_capture(target, list(read_capture(folder, compact=False)))
    return target


def test_a_client_chosen_request_id_cannot_break_the_line(tmp_path):
    hostile = 'a"b\\c\n{"ts":0}\u2028é'
    spool = RawSpool(tmp_path, features=["a"])
    spool.add(hostile, b'{"instances":[[1]]}', b'{"predictions":[1]}', 1.0)
    spool.add("next", b'{"instances":\r\n  [[2]]}', b'{"predictions":[2]}', 1.0)
    spool.close()
    assert [(r["request_id"], r["instances"]) for r in read_capture(tmp_path)] == [(hostile, [[1]]), ("next", [[2]])]


def test_time_and_version_filters(tmp_path):
    numeric_spool(tmp_path, 40).close()
    for compact in (False, True):  # raw, then compacted by the first read
        kept = list(read_capture(tmp_path, since=HOUR + 10, until=HOUR + 20, compact=compact))
        assert [r["request_id"] for r in kept] == [str(i) for i in range(10, 20)]
        assert list(read_capture(tmp_path, version="v9", compact=compact)) == []
        assert len(list(read_capture(tmp_path, version="v1", compact=compact))) == 40
    assert [f.suffix for f in capture_files(tmp_path)] == [".arrow"]


def test_a_file_another_reader_is_compacting_is_read_raw_meanwhile(served, tmp_path):
    import os
    import shutil

    folder, _ = served
    shutil.copytree(folder, tmp_path / "busy")
    expected = list(read_capture(tmp_path / "busy", compact=False))
    [raw] = capture_files(tmp_path / "busy")
    partial = raw.with_suffix(".arrow.partial")
    partial.write_bytes(b"")  # the other reader's file in progress
    assert list(read_capture(tmp_path / "busy")) == expected
    assert [f.suffix for f in capture_files(tmp_path / "busy")] == [".raw"]
    os.utime(partial, (0, 0))  # that reader died long ago: its leftover is replaced
    assert len(list(read_capture(tmp_path / "busy"))) == len(expected)
    assert sorted(p.suffix for p in (tmp_path / "busy").iterdir()) == [".arrow"]


def test_a_file_being_written_is_read_up_to_its_last_whole_line(tmp_path):
    numeric_spool(tmp_path, 5).close()
    path = capture_files(tmp_path)[0]
    data = path.read_bytes()
    cut = data[: data.rindex(b'{"capture_end"')]
    path.write_bytes(cut + b'{"ts":1,"request_id":"torn","request":{"inst')
    assert [r["request_id"] for r in read_capture(tmp_path)] == [str(i) for i in range(5)]
    assert not capture_raw.finished(path)
    assert capture_raw.compact(path) is None and path.exists()


def test_records_of_another_hour_go_to_that_hours_file(tmp_path):
    numeric_spool(tmp_path, 3).close()
    numeric_spool(tmp_path, 3, start=HOUR + 3600).close()
    assert [f.name.split("-")[2].split(".")[0] for f in capture_files(tmp_path)] == ["2026112010", "2026112011"]


def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path):
    dropped = []
    spool = RawSpool(tmp_path, max_pending=3, linger=5.0, on_drop=lambda: dropped.append(1))
    started = time.perf_counter()
    for i in range(10):
        spool.add(str(i), b'{"instances":[[1]]}', b'{"predictions":[1]}', 1.0)
    assert time.perf_counter() - started < 0.5
    assert spool.dropped == 7 and len(dropped) == 7
    spool.close()
    assert len(list(read_capture(tmp_path))) == 3


def test_the_buffer_is_bounded_in_bytes_too(tmp_path):
    spool = RawSpool(tmp_path, max_pending_bytes=1000, linger=5.0)
    for i in range(5):
        spool.add(str(i), b'{"instances":[[' + b"1," * 200 + b'1]]}', b"{}", 1.0)
    assert spool.dropped == 3
    spool.close()


def test_an_unwritable_folder_drops_and_counts(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    spool = RawSpool(blocker / "capture", linger=0.01)
    spool.add("x", b"{}", b"{}", 1.0)
    spool.close()
    assert spool.dropped == 1


def test_reading_compacts_a_finished_file_into_arrow_once(served, tmp_path):
    import shutil

    folder, _ = served
    shutil.copytree(folder, tmp_path / "c")
    before = list(read_capture(tmp_path / "c", compact=False))
    assert [f.suffix for f in capture_files(tmp_path / "c")] == [".raw"]
    after = list(read_capture(tmp_path / "c"))  # text features too: through the CSV path where it can
    [arrow] = capture_files(tmp_path / "c")
    assert arrow.suffix == ".arrow" and sorted(p.name for p in (tmp_path / "c").iterdir()) == [arrow.name]
    assert stat.S_IMODE(arrow.stat().st_mode) == 0o600
    for old, new in zip(before, after, strict=True):
        assert new["request_id"] == old["request_id"]
        assert [[None if v is None else (float(v) if isinstance(v, int) else v) for v in row]
                for row in old["instances"]] == new["instances"]
        assert new["predictions"] == old["predictions"]


def test_capture_columns_read_raw_files(tmp_path):
    numeric_spool(tmp_path, 10).close()
    chunks = list(capture_columns(tmp_path, ["b", "a"], compact=False))
    rows = [row for r in read_capture(tmp_path, compact=False) for row in r["instances"]]
    assert np.allclose(chunks[0]["a"], [row[0] for row in rows])
    assert np.allclose(chunks[0]["b"], [row[1] for row in rows])


def test_the_writer_defaults_to_raw_and_other_formats_stay_available(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOUDEPLOY_CAPTURE_FORMAT", raising=False)
    writer = CaptureWriter(tmp_path / "raw", features=["a"])
    writer.add("r", b'{"instances":[[1.5]]}', b'{"predictions":[2]}', 1.0)
    writer.close()
    jsonl = CaptureWriter(tmp_path / "jsonl", format="jsonl", features=["a"])
    jsonl.add("j", b"", b"", 1.0, rows=[[1.5]], predictions=[2])
    jsonl.close()
    assert [r["instances"] for r in read_capture(tmp_path / "raw")] == [[[1.5]]]
    assert [r["instances"] for r in read_capture(tmp_path / "jsonl")] == [[[1.5]]]


@pytest.mark.parametrize("path", ["_fast_batch_csv", "_fast_batch"])
@pytest.mark.parametrize("label", [int, lambda i: i + 0.5])
def test_numeric_files_compact_through_a_columnar_path_to_the_same_records(tmp_path, monkeypatch, label, path):
    spool = RawSpool(tmp_path, model="m", version="v1", features=["a", "b"], types=["number", "integer"])
    rng = np.random.default_rng(4)
    for i in range(50):
        rows = [[float(rng.normal()), int(rng.integers(0, 9))] for _ in range(1 + i % 3)]
        answer = {"predictions": [label(i % 2)] * len(rows), "modelVersionId": "v1"}
        spool.add(f"r{i}", orjson.dumps({"instances": rows}), orjson.dumps(answer), 1.0)
    spool.close()
    before = list(read_capture(tmp_path, compact=False))
    calls = []
    real = getattr(capture_raw, path)
    if path == "_fast_batch_csv":  # the CSV reader's path, taken when the JSON one steps aside
        monkeypatch.setattr(capture_raw, "_fast_batch", lambda *a: None)
    monkeypatch.setattr(capture_raw, path, lambda *a: calls.append(real(*a)) or calls[-1])
    capture_raw.compact(capture_files(tmp_path)[0])
    assert calls and calls[0] is not None
    after = list(read_capture(tmp_path))
    assert [f.suffix for f in capture_files(tmp_path)] == [".arrow"]
    assert len(after) == len(before) == 50
    for old, new in zip(before, after, strict=True):
        assert (new["ts"], new["request_id"], new["version"]) == (old["ts"], old["request_id"], "v1")
        assert new["instances"] == [[float(v) for v in row] for row in old["instances"]]
        assert new["predictions"] == old["predictions"]
        assert [type(p) for p in new["predictions"]] == [type(p) for p in old["predictions"]]


def test_files_end_after_max_file_seconds_so_readers_can_compact_them(tmp_path):
    spool = RawSpool(tmp_path, features=["a", "b"], max_file_seconds=10)
    for i in range(25):
        spool.submit({"ts": HOUR + i, "request_id": str(i), "features": ["a", "b"], "instances": [[1.0, 2.0]]})
    time.sleep(0.3)  # written, and the writer still running
    files = capture_files(tmp_path)
    assert len(files) == 3 and [capture_raw.finished(f) for f in files] == [True, True, False]
    spool.close()
    assert [r["request_id"] for r in read_capture(tmp_path)] == [str(i) for i in range(25)]


@pytest.mark.parametrize("fmt", ["raw", "arrow", "jsonl"])
def test_every_format_writes_private_files(tmp_path, fmt):
    writer = CaptureWriter(tmp_path / "c", format=fmt, features=["a"])
    writer.add("r", b'{"instances":[[1.5]]}', b'{"predictions":[2]}', 1.0, rows=[[1.5]], predictions=[2])
    writer.close()
    [path] = capture_files(tmp_path / "c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "c").stat().st_mode) == 0o700


def test_foreign_empty_or_garbled_raw_files_read_as_no_records(tmp_path, caplog):
    (tmp_path / "capture-7-2026112010.raw").write_bytes(b"")
    (tmp_path / "capture-8-2026112010.raw").write_bytes(b"\xff\xfe not json at all\n\x00\x01")
    (tmp_path / "capture-9-2026112010.raw").write_bytes(b'{"capture":"cloudeploy-raw/1","features":["a"]}\n'
                                                         b'{"ts":1,"request_id":"x","request":{"inst\n'
                                                         b'{"ts":2,"request_id":"y","request":[[3]],"response":[4]}\n'
                                                         b'{"capture_end":true}\n')
    assert [(r["request_id"], r["instances"], r["predictions"]) for r in read_capture(tmp_path)] == [("y", [[3]], [4])]
    assert "not a raw capture file" in caplog.text and "malformed" in caplog.text


def test_text_and_boolean_features_compact_through_the_csv_path_exactly(tmp_path, monkeypatch):
    spool = RawSpool(tmp_path, model="m", version="v1", features=["area", "city", "new"],
                     types=["number", "string", "boolean"])
    cities = ["lyon", "saint-étienne", "a,b", "null", "", 'say "hi"', None]
    for i in range(len(cities)):
        rows = [[80.5 + i, cities[i], i % 2 == 0], [None, "paris", None]]
        spool.add(f"r{i}", orjson.dumps({"instances": rows}), orjson.dumps({"predictions": ["yes", "no"]}), 1.0)
    spool.close()
    before = list(read_capture(tmp_path, compact=False))
    results = []
    real = capture_raw._fast_batch_csv
    monkeypatch.setattr(capture_raw, "_fast_batch_csv", lambda *a: results.append(real(*a)) or results[-1])
    after = list(read_capture(tmp_path))
    assert results  # it was tried; blocks with commas, quotes or escapes in strings step aside
    assert [f.suffix for f in capture_files(tmp_path)] == [".arrow"]
    assert [r["instances"] for r in after] == [r["instances"] for r in before]
    assert [r["predictions"] for r in after] == [["yes", "no"]] * len(cities)
    clean = RawSpool(tmp_path / "clean", features=["area", "city", "new"], types=["number", "string", "boolean"])
    clean.add("c", b'{"instances":[[1.5,"lyon",true],[null,"saint-\xc3\xa9tienne",false]]}', b'{"predictions":[1,0]}', 1.0)
    clean.close()
    [path] = capture_files(tmp_path / "clean")
    meta, handle = capture_raw._open(path)
    with handle:
        batch = real(next(capture_raw._blocks(handle)), meta)
    assert batch is not None
    assert batch.column("f:city").to_pylist() == ["lyon", "saint-étienne"]
    assert batch.column("f:new").to_pylist() == [True, False]
    assert batch.column("f:area").to_pylist() == [1.5, None]
    assert batch.column("prediction").to_pylist() == [1, 0]


def test_a_served_capture_is_json_lines_to_a_reader_we_did_not_write(package, tmp_path):
    """Bodies are embedded as the client sent them, not re-encoded: whatever valid JSON or
    CSV a client sends (CRLF and tabs between tokens, \\u escapes, exponents, quoted CSV
    fields, a request id with quotes and backslashes), every line of the server's raw file
    must still be one JSON document to the standard library's strict parser."""
    from cloudeploy.packaging import load_package
    from cloudeploy.serving import ServerSettings, create_app

    folder = tmp_path / "capture"
    bodies = {
        "crlf": (b'{\r\n\t"instances" :\r\n [ [ 70.5 , "lyon" ] ]\r\n}', "application/json"),
        "escapes": (b'{"instances":[{"city":"ly\\u006fn","area":7.05E1}]}', "application/json"),
        "quoted-csv": (b'area,city\r\n70.5,"lyon"\r\n', "text/csv"),
        'quote"and\\backslash': (b'{"instances":[[70.5,"lyon"]]}', "application/json"),
    }
    started = time.time()
    with TestClient(create_app(load_package(package.path), ServerSettings(capture_dir=folder))) as client:
        for request_id, (body, content_type) in bodies.items():
            path = "/invocations" if content_type == "text/csv" else "/predict"
            answer = client.post(path, content=body, headers={"content-type": content_type, "x-request-id": request_id})
            assert answer.status_code == 200, answer.text

    lines = [line for path in folder.glob("*.raw") for line in path.read_bytes().decode("utf-8").split("\n") if line]
    documents = [json.loads(line) for line in lines]  # strict: raises on anything but one JSON value per line
    captured = [d for d in documents if "latency_ms" in d]
    assert len(captured) == len(bodies)
    assert all(started - 1 <= d["ts"] <= time.time() + 1 and d["latency_ms"] >= 0 for d in captured)
    records = read_capture(folder, compact=False)
    assert [r["instances"] for r in records] == [[[70.5, "lyon"]]] * len(bodies)
