"""Batch jobs pick the faster runtime per job and record the choice.

The package records how fast both runtimes predicted a batch when it was built;
a job whose original could not save it the time loading the original costs
scores with the compiled graph without loading the original, and any other job
(or one of a package without those figures) times both on its first chunk.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from cloudeploy.packaging import build_package
from cloudeploy.packaging.manifest import MANIFEST_NAME, read_manifest


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    return tmp_path


@pytest.fixture(scope="module")
def forest_and_rows():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    return forest, X, frame


def _record_speeds(package, speeds: dict | None) -> None:
    """Rewrite the package's build timings (not part of its digest): None drops them,
    as in a package built before they were recorded."""
    path = package / MANIFEST_NAME
    data = json.loads(path.read_text())
    batch = data["compiled"]["batch"]
    if speeds is None:
        batch.pop("cpu_seconds_per_million_rows")
    else:
        batch["cpu_seconds_per_million_rows"] = speeds
    path.write_text(json.dumps(data))


@pytest.fixture
def loads(monkeypatch) -> list:
    """The runtimes the batch engine loads packages with, in order."""
    from cloudeploy.batch import engine

    seen: list[str | None] = []
    real_load = engine.load_package
    monkeypatch.setattr(engine, "load_package", lambda *a, **k: seen.append(k.get("runtime")) or real_load(*a, **k))
    return seen


def test_a_job_the_original_cannot_speed_up_never_loads_it(home, forest_and_rows, loads):
    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    frame.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    extra = job.status().extra
    assert extra["runtime"] == "onnx" and loads == ["onnx"]
    assert "not loaded" in extra["runtime_choice"]["reason"]
    assert extra["runtime_choice"]["estimated_rows"] >= len(frame)
    recorded = read_manifest(package).compiled["batch"]["cpu_seconds_per_million_rows"]
    assert extra["runtime_choice"]["package_time_cpu_seconds_per_million_rows"] == recorded
    assert pd.read_csv(home / "out.csv")["prediction"].tolist() == forest.predict(X).tolist()


def test_a_job_of_a_package_without_build_timings_times_both_runtimes_and_records_the_faster(
    home, forest_and_rows, loads
):
    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    _record_speeds(package, None)
    frame.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    extra = job.status().extra
    measured = extra["runtime_choice"]["cpu_seconds_per_million_rows"]
    assert set(measured) == {"onnx", "sklearn"}
    assert extra["runtime"] == min(measured, key=measured.get)
    assert extra["runtime_choice"]["sample_rows"] == len(frame)
    assert sorted(loads[:2]) == ["onnx", "sklearn"]
    output = pd.read_csv(home / "out.csv")
    assert output["prediction"].tolist() == forest.predict(X).tolist()  # labels are identical either way


def test_a_package_without_a_graph_has_nothing_to_choose(home, forest_and_rows):
    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", compile=False).path
    frame.head(50).to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    assert job.status().extra["runtime"] == "sklearn"
    assert "one runtime" in job.status().extra["runtime_choice"]["reason"]
    assert np.array_equal(pd.read_csv(home / "out.csv")["prediction"], forest.predict(X[:50]))


def test_a_big_job_of_a_model_much_faster_in_its_original_runtime_races_them_on_one_slice(
    home, forest_and_rows, loads
):
    """The recorded timings say the original could save this job more than loading it
    costs, so the job times both on its first chunk: on one predict call's worth of it
    (a CSV block holds more rows than a call takes), and the workers score with the
    model the measurement loaded instead of loading it a third time."""
    from cloudeploy.batch import engine

    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    repeats = 40  # 569 rows × 40 = 22,760 rows, one chunk, more than one predict slice
    saving_per_row = engine.ORIGINAL_TRIAL_SECONDS / (len(frame) * repeats) * 1e6 * 1.5
    _record_speeds(package, {"onnx": saving_per_row + 1.0, "original": 1.0})
    big = pd.concat([frame] * repeats, ignore_index=True)
    big["id"] = [f"r{i}" for i in range(len(big))]
    big.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1,
                        chunk_rows=len(big))

    slice_rows = engine.PREDICT_BYTES // (4 * X.shape[1])
    assert job.status().extra["runtime_choice"]["sample_rows"] == min(slice_rows, engine.RUNTIME_SAMPLE_ROWS)
    assert sorted(loads) == ["onnx", "sklearn"]
    assert pd.read_csv(home / "out.csv")["prediction"].tolist() == forest.predict(np.tile(X, (repeats, 1))).tolist()


def test_the_same_timings_settle_a_small_job_on_the_graph(home, forest_and_rows, loads):
    """What the original could save scales with the job: 569 rows cannot repay loading it."""
    from cloudeploy.batch import engine

    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    saving_per_row = engine.ORIGINAL_TRIAL_SECONDS / (len(frame) * 40) * 1e6 * 1.5
    _record_speeds(package, {"onnx": saving_per_row + 1.0, "original": 1.0})
    frame.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    assert job.status().extra["runtime"] == "onnx" and loads == ["onnx"]
    assert pd.read_csv(home / "out.csv")["prediction"].tolist() == forest.predict(X).tolist()


@pytest.mark.parametrize("speeds", [
    {"onnx": "fast", "original": 1.0},
    {"onnx": float("nan"), "original": 1.0},
    {"onnx": 5.0, "original": -1e12},
    [5.0, 6.0],
], ids=["text", "nan", "negative", "not-a-mapping"])
def test_edited_build_timings_only_make_the_job_race_the_runtimes(home, forest_and_rows, loads, speeds):
    """The timings are outside the digest, so a hand-edited manifest still verifies: what it says
    there can cost speed (the job races both), never a crash or another answer."""
    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    _record_speeds(package, speeds)
    frame.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    assert job.status().state == "succeeded"
    assert sorted(loads[:2]) == ["onnx", "sklearn"]
    assert pd.read_csv(home / "out.csv")["prediction"].tolist() == forest.predict(X).tolist()


def test_a_tampered_batch_graph_is_refused_before_any_row_is_scored(home, forest_and_rows):
    from cloudeploy.errors import IntegrityError
    from cloudeploy.packaging.load import load_package

    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    batch_file = package / read_manifest(package).compiled["batch"]["file"]
    batch_file.write_bytes((package / "model.onnx").read_bytes())  # a valid graph, not the one packaged

    with pytest.raises(IntegrityError, match="model.batch.onnx"):
        load_package(package, batch=True)
