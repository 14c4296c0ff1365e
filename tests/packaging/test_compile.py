"""Compiling at package time: the graph answers like the model, or the package keeps only the model."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import IntegrityError, PackageError
from cloudeploy.packaging import build_package, load_package, read_manifest
from cloudeploy.packaging.build import CompileWarning
from cloudeploy.packaging.compile import TOLERANCE, compile_model, compile_model_file
from cloudeploy.packaging.infer import infer_schema


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="module")
def customers():
    """A mixed frame: a text category, a numeric column with gaps, an integer count."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "spend": rng.gamma(2.0, 30.0, n),
            "visits": rng.integers(0, 20, n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "spend"] = np.nan
    churn = np.where((frame["plan"] == "basic") & (frame["visits"] < 8), "churn", "stay")
    return frame, churn


def _compiled(package):
    compiled = package.manifest.compiled
    assert compiled is not None and compiled.get("file") == "model.onnx", compiled
    return compiled


def test_forest_graph_gives_the_forests_labels_on_every_row(cancer, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X, y = cancer
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    package = build_package(forest, tmp_path / "pkg", baseline=X)
    compiled = _compiled(package)
    assert compiled["verification"]["rows"] == len(X)
    assert compiled["verification"]["source"] == "data"
    assert compiled["verification"]["labels_identical"] is True
    assert 0 <= compiled["verification"]["max_deviation"] <= compiled["verification"]["tolerance"]
    loaded = load_package(package.path)
    assert loaded.runtime == "onnx"
    predictions = loaded.predict(X.tolist())
    assert predictions == forest.predict(X).tolist()
    assert all(type(p) is int for p in predictions)


def test_regressor_graph_answers_within_the_recorded_tolerance(cancer, tmp_path):
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = cancer
    target = X[:, 0] * 40.0 + y * 300.0
    model = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(X, target)
    package = build_package(model, tmp_path / "pkg", baseline=X)
    compiled = _compiled(package)
    predictions = load_package(package.path).predict(X.tolist())
    expected = model.predict(X)
    assert all(type(p) is float for p in predictions)
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.max(np.abs(np.asarray(predictions) - expected)) / scale <= compiled["verification"]["tolerance"]


def test_pipeline_with_a_categorical_column_answers_like_scikit_learn(customers, tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame, churn = customers
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("plan", OneHotEncoder(), ["plan"]),
                ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), ["spend", "visits"]),
            ]
        ),
        LogisticRegression(),
    ).fit(frame, churn)
    package = build_package(pipeline, tmp_path / "pkg")
    compiled = _compiled(package)
    assert compiled["inputs"] == "columns"
    assert compiled["verification"]["source"] == "generated"
    loaded = load_package(package.path)
    rows = loaded.schema.rows(frame.replace({np.nan: None}).to_dict(orient="records"))
    predictions = loaded.predict(rows)
    assert predictions == pipeline.predict(frame).tolist()
    assert all(type(p) is str for p in predictions)


def test_xgboost_classifier_compiles_and_answers_like_xgboost(cancer, tmp_path):
    from xgboost import XGBClassifier

    X, y = cancer
    model = XGBClassifier(n_estimators=30, max_depth=3).fit(X, y)
    result = compile_model(model, infer_schema(model), "class_labels", data=X, classes=[0, 1])
    assert result["onnx"], result["record"]
    assert result["record"]["verification"]["labels_identical"] is True
    package = build_package(model, tmp_path / "pkg", baseline=X)
    assert load_package(package.path).predict(X.tolist()) == model.predict(X).tolist()


def test_lightgbm_classifier_compiles_and_answers_like_lightgbm(cancer, tmp_path):
    from lightgbm import LGBMClassifier

    X, y = cancer
    model = LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    package = build_package(model, tmp_path / "pkg", baseline=X, output_kind="probabilities")
    compiled = _compiled(package)
    predictions = load_package(package.path).predict(X.tolist())
    assert np.max(np.abs(np.asarray(predictions) - model.predict_proba(X))) <= compiled["verification"]["tolerance"]


def _event_times():
    """Two Unix timestamps seconds apart (an event and its correction): float32 rounds both to 128 s."""
    rng = np.random.default_rng(0)
    start = 1.7e9 + rng.uniform(0, 1e4, 400)
    delay = rng.uniform(-60, 60, 400)
    return np.column_stack([start, start + delay]), (delay > 0).astype(int)


def _unverifiable_model():
    """Converts (float32), but float32 flips labels and the float64 graph does not run."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _event_times()
    return make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(X, y), X


def test_a_label_flipped_by_float32_is_verified_again_in_double_precision(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _event_times()
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    package = build_package(model, tmp_path / "pkg", baseline=X)
    assert _compiled(package)["precision"] == "float64"
    assert load_package(package.path).predict(X.tolist()) == model.predict(X).tolist()


def test_a_graph_that_answers_differently_is_not_kept(tmp_path):
    model, X = _unverifiable_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        package = build_package(model, tmp_path / "pkg", baseline=X)
    assert package.manifest.compiled_file is None
    assert package.manifest.runtime == "sklearn"
    reason = package.manifest.compiled["reason"]
    assert "label" in reason and "float64" in reason  # double precision was tried too
    assert not (package.path / "model.onnx").exists()
    messages = [str(w.message) for w in caught if issubclass(w.category, CompileWarning)]
    assert len(messages) == 1 and "\n" not in messages[0]
    loaded = load_package(package.path)
    assert loaded.runtime == "sklearn"
    assert loaded.predict(X.tolist()) == model.predict(X).tolist()
    with pytest.raises(PackageError, match="no verified compiled graph"):
        load_package(package.path, runtime="onnx")


def test_model_without_a_converter_keeps_the_original_runtime_saying_why(cancer, tmp_path):
    from sklearn.dummy import DummyClassifier

    X, y = cancer
    with pytest.warns(CompileWarning, match="no ONNX converter for DummyClassifier"):
        package = build_package(DummyClassifier().fit(X, y), tmp_path / "pkg")
    assert package.manifest.runtime == "sklearn"
    assert list(package.manifest.files) == ["model.joblib"]


def test_the_digest_covers_the_compiled_graph(cancer, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = cancer
    model = LogisticRegression(max_iter=5000).fit(X, y)
    first = build_package(model, tmp_path / "a", baseline=X)
    second = build_package(model, tmp_path / "b", baseline=X)
    assert first.digest == second.digest  # the graph's bytes are deterministic
    without = build_package(model, tmp_path / "c", baseline=X, compile=False)
    assert without.digest != first.digest and without.manifest.compiled is None
    graph = first.path / "model.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="model.onnx"):
        load_package(first.path)


def test_compile_model_file_hands_back_plain_data(cancer, tmp_path):
    import joblib
    from sklearn.ensemble import ExtraTreesClassifier

    X, y = cancer
    model = ExtraTreesClassifier(n_estimators=10, random_state=0).fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    result = compile_model_file(path, "joblib", data=X.tolist())
    onnx_bytes = result.pop("onnx")
    assert isinstance(onnx_bytes, bytes) and onnx_bytes
    batch_bytes = result.pop("batch_onnx", None)  # a forest's blocked graph, when it has several blocks
    assert batch_bytes is None or (isinstance(batch_bytes, bytes) and result["record"]["batch"]["graph"] == "blocked")
    json.dumps(result)  # everything else is JSON
    assert result["output_kind"] == "class_labels" and result["classes"] == [0, 1]
    assert len(result["schema"]["features"]) == X.shape[1]
    assert result["record"]["verification"]["tolerance"] == TOLERANCE


def test_package_command_warns_in_one_line_and_exits_0(tmp_path):
    import joblib
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    model, X = _unverifiable_model()
    joblib.dump(model, tmp_path / "model.joblib")
    pd.DataFrame(X, columns=["x0", "x1"]).to_csv(tmp_path / "train.csv", index=False)
    result = CliRunner().invoke(
        cli,
        ["package", str(tmp_path / "model.joblib"), "-o", str(tmp_path / "pkg"), "--baseline", str(tmp_path / "train.csv")],
    )
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warning_lines) == 1 and "original runtime" in warning_lines[0]
    assert read_manifest(tmp_path / "pkg").runtime == "sklearn"


def test_a_fully_grown_forest_labels_exact_vote_ties_as_scikit_learn_does(tmp_path):
    """40 fully grown trees vote 0 or 1, so 20 against 20 is an exact 0.5 tie, where
    scikit-learn's argmax takes the first class while the graph's float32 sums land a few
    ulps either side. Training rows never tie (the trees agree on them), so verifying on
    them cannot show it: these are fresh rows, and ties are what the test is about."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=3000, n_features=8, n_informative=5, flip_y=0.1, random_state=0)
    forest = RandomForestClassifier(n_estimators=40, random_state=0).fit(X, y)
    rows = np.random.default_rng(7).normal(scale=2.0, size=(2000, 8))
    assert (forest.predict_proba(rows)[:, 1] == 0.5).sum() > 20

    package = build_package(forest, tmp_path / "pkg", baseline=X).path

    for batch in (False, True):  # the serving graph and the batch graph
        loaded = load_package(package, batch=batch)
        assert loaded.runtime == "onnx"
        assert loaded.predict(rows.tolist()) == forest.predict(rows).tolist()
        assert [loaded.predict([row])[0] for row in rows[:300].tolist()] == forest.predict(rows[:300]).tolist()
