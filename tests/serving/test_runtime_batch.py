"""Batch jobs pick the faster runtime per job, measured on the first chunk, and record the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from cloudeploy.packaging import build_package


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


def test_a_job_times_both_runtimes_and_records_the_faster(home, forest_and_rows):
    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    frame.to_csv(home / "in.csv", index=False)

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1)

    extra = job.status().extra
    measured = extra["runtime_choice"]["cpu_seconds_per_million_rows"]
    assert set(measured) == {"onnx", "sklearn"}
    assert extra["runtime"] == min(measured, key=measured.get)
    assert extra["runtime_choice"]["sample_rows"] == len(frame)
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


def test_the_measurement_predicts_one_slice_of_a_large_chunk_and_the_choice_is_loaded_once(
    home, forest_and_rows, monkeypatch
):
    """A CSV block can hold far more rows than a predict call takes: the runtimes are
    timed on one call's worth (what scoring does), and the workers score with the
    model the measurement loaded instead of loading it a third time."""
    from cloudeploy.batch import engine

    forest, X, frame = forest_and_rows
    package = build_package(forest, home / "package", baseline=X).path
    repeats = 40  # 569 rows × 40 = 22,760 rows, one chunk, more than one predict slice
    big = pd.concat([frame] * repeats, ignore_index=True)
    big["id"] = [f"r{i}" for i in range(len(big))]
    big.to_csv(home / "in.csv", index=False)
    loads: list[str | None] = []
    real_load = engine.load_package
    monkeypatch.setattr(engine, "load_package", lambda *a, **k: loads.append(k.get("runtime")) or real_load(*a, **k))

    job = batch_predict(str(package), str(home / "in.csv"), str(home / "out.csv"), id_column="id", workers=1,
                        chunk_rows=len(big))

    slice_rows = engine.PREDICT_BYTES // (4 * X.shape[1])
    assert job.status().extra["runtime_choice"]["sample_rows"] == min(slice_rows, engine.RUNTIME_SAMPLE_ROWS)
    assert sorted(loads) == ["onnx", "sklearn"]
    assert pd.read_csv(home / "out.csv")["prediction"].tolist() == forest.predict(np.tile(X, (repeats, 1))).tolist()
