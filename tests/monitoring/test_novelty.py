"""The novelty detector: scikit-learn's IsolationForest as plain arrays, and the outlier share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.novelty import (
    NoveltyDetector,
    _encoding,
    fit_novelty,
    from_isolation_forest,
    outlier_share,
)

NAMES = ["size", "rooms", "age", "city"]


def training(rows=2000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "size": rng.normal(120, 30, rows),
        "rooms": rng.integers(1, 7, rows).astype(float),
        "age": rng.exponential(20, rows),
        "city": rng.choice(["Paris", "Berlin", "Rome"], rows),
    })


@pytest.fixture(scope="module")
def fitted():
    frame = training()
    baseline = compute_baseline(frame)
    return frame, baseline, fit_novelty(frame, baseline, NAMES, n_estimators=50)


@pytest.mark.parametrize("seed", range(3))
def test_scores_equal_scikit_learns_score_samples(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, 5)) * rng.uniform(0.1, 50, 5)
    forest = IsolationForest(n_estimators=30, random_state=seed).fit(X)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    encoding = _encoding(compute_baseline(frame), list(frame.columns))
    detector = from_isolation_forest(forest, encoding)
    probe = np.vstack([X[:100], rng.normal(size=(100, 5)) * 100])
    assert np.allclose(detector.score_matrix(probe), forest.score_samples(probe), rtol=0, atol=1e-12)
    flagged = detector.score_matrix(probe) < detector.offset
    assert np.array_equal(flagged, forest.predict(probe) == -1)


def test_a_saved_detector_loads_without_pickle_and_scores_the_same(fitted, tmp_path):
    frame, _, detector = fitted
    path = detector.save(tmp_path / "novelty.npz")
    with np.load(path, allow_pickle=False) as data:  # no object arrays inside
        assert all(data[k].dtype != object for k in data.files)
    again = NoveltyDetector.load(path)
    columns = {n: frame[n].to_numpy() for n in NAMES}
    assert np.array_equal(again.score_samples(columns), detector.score_samples(columns))


def test_outlier_share_rises_when_out_of_range_rows_arrive(fitted):
    frame, _, detector = fitted
    normal = training(400, seed=5)
    usual = outlier_share(detector, [{n: normal[n].to_numpy() for n in NAMES}], threshold=0.1)
    odd = normal.copy()
    odd.loc[:199, "size"] = 900.0  # half the rows far outside the training range
    odd.loc[:199, "age"] = 400.0
    unusual = outlier_share(detector, [{n: odd[n].to_numpy() for n in NAMES}], threshold=0.1)
    assert usual.share < 0.05 and not usual.breached
    assert unusual.share >= usual.share + 0.4 and unusual.breached
    assert unusual.rows == 400


def test_an_unseen_category_and_missing_numbers_are_encoded_not_refused(fitted):
    _, _, detector = fitted
    columns = {"size": [120.0, None], "rooms": [3.0, 3.0], "age": [10.0, 10.0], "city": ["Oslo", None]}
    assert detector.score_samples(columns).shape == (2,)


def test_a_file_that_is_not_a_detector_is_refused(tmp_path):
    path = tmp_path / "novelty.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="not a cloudeploy novelty detector"):
        NoveltyDetector.load(path)


def test_a_threshold_outside_zero_one_is_refused(fitted):
    with pytest.raises(ValidationError, match=r"in \[0, 1\]"):
        outlier_share(fitted[2], [], threshold=1.5)


def _package(tmp_path, baseline):
    from sklearn.linear_model import LinearRegression

    from cloudeploy.packaging import build_package

    frame = training(600).drop(columns=["city"])
    model = LinearRegression().fit(frame, frame["size"] * 2)
    return frame, build_package(model, tmp_path / "package", baseline=baseline(frame) if callable(baseline)
                                else baseline)


def test_a_package_built_from_training_data_carries_a_digest_covered_detector(tmp_path):
    from cloudeploy.monitoring.artifacts import load_novelty
    from cloudeploy.packaging.load import verify_package

    frame, package = _package(tmp_path, lambda frame: frame)
    assert "novelty.npz" in package.manifest.files
    verify_package(package.path)
    detector = load_novelty(package.path, package.manifest.files)
    assert detector.names == ["size", "rooms", "age"]
    assert detector.is_outlier({n: frame[n].to_numpy() for n in detector.names}).mean() < 0.05


def test_a_tampered_detector_is_refused(tmp_path):
    from cloudeploy.errors import PackageError
    from cloudeploy.monitoring.artifacts import load_novelty

    _, package = _package(tmp_path, lambda frame: frame)
    path = package.path / "novelty.npz"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(PackageError, match="does not match the digest"):
        load_novelty(package.path, package.manifest.files)


def test_a_package_built_from_a_ready_baseline_dict_has_no_detector(tmp_path):
    from cloudeploy.monitoring.artifacts import load_novelty

    _, package = _package(tmp_path, lambda frame: compute_baseline(frame))
    assert "novelty.npz" not in package.manifest.files
    assert load_novelty(package.path, package.manifest.files) is None
