"""Attribution drift: a model whose dominant feature changes under shifted serving data is caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.attribution import (
    attribution_drift,
    baseline_attributions,
    choose_method,
    serving_attributions,
)

NAMES = ["sqft", "zip", "age"]


def housing(rows, *, zip_shift=0.0, seed=0):
    """Price rests on sqft; zip only matters above 2 std, which training data almost never reaches."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(rows, 3)), columns=NAMES)
    X["zip"] += zip_shift
    y = 3 * X["sqft"] + 10 * np.maximum(X["zip"] - 2, 0) + 0.3 * X["age"]
    return X, y


def columns(frame):
    return {n: frame[n].to_numpy() for n in NAMES}


def drift_of(model, shift):
    X, y = housing(2000)
    model.fit(X, y)
    record = baseline_attributions(model, X, NAMES)
    serving, _ = housing(400, zip_shift=shift, seed=1)
    return record, attribution_drift(record, serving_attributions(model, record, columns(serving)))


@pytest.fixture(scope="module")
def boosted():
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0)


def test_tree_shap_catches_the_dominant_feature_changing_from_sqft_to_zip(boosted):
    record, drift = drift_of(boosted, shift=4.0)
    assert record["explainer"]["method"] == "tree_shap"
    assert drift["dominant"] == {"baseline": "sqft", "serving": "zip"}
    assert {"sqft", "zip"} <= set(drift["breached"])
    zip_row = next(f for f in drift["features"] if f["name"] == "zip")
    assert zip_row["baseline_rank"] > 1 and zip_row["serving_rank"] == 1 and zip_row["share_change"] > 0.3


def test_unshifted_serving_data_shows_no_attribution_drift(boosted):
    _, drift = drift_of(boosted, shift=0.0)
    assert drift["breached"] == [] and drift["dominant"]["serving"] == "sqft"


def test_tree_shap_shares_match_the_shap_library():
    import shap
    from sklearn.ensemble import RandomForestRegressor

    X, y = housing(250)  # under the 300-row sample: every row is explained
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    record = baseline_attributions(model, X, NAMES)
    expected = np.abs(shap.TreeExplainer(model).shap_values(X)).mean(axis=0)
    got = np.array([record["features"][n]["mean_abs"] for n in NAMES])
    assert np.allclose(got, expected, rtol=1e-6)


def test_linear_attributions_are_coefficient_times_centred_value():
    from sklearn.linear_model import LinearRegression

    X, y = housing(250)
    model = LinearRegression().fit(X, y)
    record = baseline_attributions(model, X, NAMES)
    assert record["explainer"]["method"] == "linear"
    expected = np.abs((X - X.mean()).to_numpy() * model.coef_).mean(axis=0)
    got = np.array([record["features"][n]["mean_abs"] for n in NAMES])
    assert np.allclose(got, expected, rtol=1e-9)


def test_the_sampled_method_also_sees_the_dominant_feature_change():
    from sklearn.neighbors import KNeighborsRegressor

    record, drift = drift_of(KNeighborsRegressor(), shift=4.0)
    assert record["explainer"]["method"] == "sampled"
    assert drift["dominant"] == {"baseline": "sqft", "serving": "zip"}


def test_methods_are_chosen_by_the_model():
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = housing(200)
    labels = (y > 0).astype(int)
    assert choose_method(RandomForestClassifier(n_estimators=3).fit(X, labels)) == "tree_shap"
    assert choose_method(LogisticRegression().fit(X, labels)) == "linear"
    assert choose_method(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, labels)) == "sampled"
    assert choose_method(HistGradientBoostingRegressor(max_iter=5).fit(X, y)) == "sampled"


def test_thresholds_decide_what_is_breached():
    base = {"explainer": {"method": "linear"},
            "features": {"a": {"share": 0.6, "rank": 1}, "b": {"share": 0.3, "rank": 2}, "c": {"share": 0.1, "rank": 3}}}
    now = {"rows": 50,
           "features": {"a": {"share": 0.5, "rank": 1}, "b": {"share": 0.25, "rank": 2}, "c": {"share": 0.25, "rank": 3}}}
    assert attribution_drift(base, now)["breached"] == ["c"]  # +0.15 > 0.1
    assert attribution_drift(base, now, share_threshold=0.2)["breached"] == []


def test_a_package_carries_its_training_attributions_under_the_digest(tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    from cloudeploy.errors import PackageError
    from cloudeploy.monitoring.artifacts import load_attribution
    from cloudeploy.packaging import build_package

    X, y = housing(400)
    package = build_package(RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y),
                            tmp_path / "package", baseline=X)
    assert "attribution.json" in package.manifest.files
    record = load_attribution(package.path, package.manifest.files)
    assert record["explainer"]["method"] == "tree_shap" and record["features"]["sqft"]["rank"] == 1
    (package.path / "attribution.json").write_text("{}")
    with pytest.raises(PackageError, match="does not match the digest"):
        load_attribution(package.path, package.manifest.files)


def test_explaining_no_rows_is_refused(boosted):
    X, y = housing(300)
    boosted.fit(X, y)
    record = baseline_attributions(boosted, X, NAMES)
    with pytest.raises(ValidationError, match="no rows"):
        serving_attributions(boosted, record, {n: np.array([]) for n in NAMES})
