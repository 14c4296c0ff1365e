"""Which jobs the package's build timings settle on the compiled graph, and what the runner preloads."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from cloudeploy.batch.engine import ORIGINAL_TRIAL_SECONDS, package_time_choice
from cloudeploy.batch.local import _expected_runtime
from cloudeploy.batch.spec import BatchSpec
from cloudeploy.packaging import build_package


def _manifest(speeds: dict | None, compiled_file: str | None = "model.onnx") -> SimpleNamespace:
    batch = {"graph": "blocked", "speed_rows": 17476}
    if speeds is not None:
        batch["cpu_seconds_per_million_rows"] = speeds
    return SimpleNamespace(compiled={"file": compiled_file, "batch": batch}, compiled_file=compiled_file)


def test_a_graph_as_fast_as_the_original_settles_jobs_of_any_size():
    choice = package_time_choice(_manifest({"onnx": 5.0, "original": 6.0}), rows=10**9, workers=2)

    assert choice is not None
    assert choice["estimated_rows"] == 10**9
    assert choice["package_time_cpu_seconds_per_million_rows"] == {"onnx": 5.0, "original": 6.0}


@pytest.mark.parametrize(("rows", "workers", "settled"), [
    (1_000_000, 2, True),    # saves 1 s on each of 2 workers: less than loading the original costs
    (1_000_000, 1, True),    # 2 s: not more than it costs
    (10_000_000, 2, False),  # 10 s: worth racing the two
])
def test_a_faster_original_is_tried_only_when_it_could_save_the_job_more_than_loading_it_costs(
    rows, workers, settled
):
    per_row = ORIGINAL_TRIAL_SECONDS  # CPU-s per million rows the original is faster by
    manifest = _manifest({"onnx": 1.0 + per_row, "original": 1.0})

    assert (package_time_choice(manifest, rows=rows, workers=workers) is not None) is settled


@pytest.mark.parametrize("manifest", [
    _manifest(None),  # built before the timings were recorded
    _manifest({"onnx": 5.0}),  # the original could not be timed
    _manifest({"onnx": 5.0, "original": 6.0}, compiled_file=None),  # no verified graph
], ids=["no-timings", "no-original-timing", "no-graph"])
def test_without_both_timings_and_a_graph_nothing_is_settled(manifest):
    assert package_time_choice(manifest, rows=100, workers=1) is None


@pytest.fixture(scope="module")
def forest():
    X, y = make_classification(n_samples=3000, n_features=8, n_informative=5, flip_y=0.1, random_state=0)
    return RandomForestClassifier(n_estimators=40, random_state=0).fit(X, y), X


def _spec(model: str) -> BatchSpec:
    return BatchSpec(model=model, source="in.csv", destination="out.csv")


def test_the_runner_preloads_onnxruntime_for_a_package_whose_graph_was_not_slower(tmp_path, forest):
    model, X = forest
    package = build_package(model, tmp_path / "package", baseline=X)
    speeds = package.manifest.compiled["batch"]["cpu_seconds_per_million_rows"]
    expected = "onnx" if speeds["original"] >= speeds["onnx"] else "sklearn"

    assert _expected_runtime(_spec(str(package.path)), str(package.path)) == expected


@pytest.mark.parametrize("reference", ["house-price@v2", "no/such/dir"])
def test_the_runner_preloads_scikit_learn_when_the_package_is_not_at_hand(reference):
    assert _expected_runtime(_spec(reference), reference) == "sklearn"


def test_the_runner_preloads_scikit_learn_for_a_package_without_a_graph(tmp_path, forest):
    model, _ = forest
    package = build_package(model, tmp_path / "package", compile=False)

    assert _expected_runtime(_spec(str(package.path)), str(package.path)) == "sklearn"
