"""A forest's batch graph (trees in blocks) answers like the forest, and only plain forests get one.

The references are scikit-learn's own answers on rows the graphs were never
verified on, and the serving graph skl2onnx wrote; the blocked graph is built
with small blocks so that even a small test forest is split many times.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from cloudeploy.packaging import build_package
from cloudeploy.packaging.compile import convert
from cloudeploy.packaging.load import load_package
from cloudeploy.packaging.schema import InputSchema
from cloudeploy.packaging.tree_blocks import block_trees

FEATURES = 8


def _classification(classes: int = 2):
    return make_classification(n_samples=600, n_features=FEATURES, n_informative=5, n_classes=classes,
                               random_state=0)


def _forest_of_several_blocks():
    """A forest of ~20,000 nodes: several blocks of the default size."""
    X, y = make_classification(n_samples=3000, n_features=FEATURES, n_informative=5, flip_y=0.1, random_state=0)
    return RandomForestClassifier(n_estimators=40, random_state=0).fit(X, y), X


def _fresh_rows(count: int = 3000) -> np.ndarray:
    return np.random.default_rng(7).normal(scale=2.0, size=(count, FEATURES)).astype(np.float32)


def _graph(model, kind: str = "class_labels") -> bytes:
    return convert(model, InputSchema.positional(FEATURES), kind)


def _run(graph: bytes, rows: np.ndarray) -> list:
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: rows})


def _tree_nodes(graph: bytes) -> int:
    return sum(node.op_type.startswith("TreeEnsemble") for node in onnx.load_model_from_string(graph).graph.node)


@pytest.mark.parametrize("forest", [
    RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
    ExtraTreesClassifier(n_estimators=12, max_depth=6, random_state=0),
], ids=["random-forest", "extra-trees"])
def test_a_blocked_binary_forest_answers_like_scikit_learn_on_fresh_rows(forest):
    X, y = _classification()
    forest.fit(X, y)
    blocked, blocks = block_trees(_graph(forest), nodes_per_block=40)
    rows = _fresh_rows()

    labels, probabilities = _run(blocked, rows)

    assert blocks > 3 and _tree_nodes(blocked) == blocks
    assert labels.tolist() == forest.predict(rows).tolist()
    assert np.abs(probabilities - forest.predict_proba(rows)).max() < 1e-5


def test_a_blocked_multiclass_forest_with_text_labels_answers_like_its_serving_graph():
    X, y = _classification(classes=3)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    forest = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(X, names)
    serving = _graph(forest)
    blocked, _ = block_trees(serving, nodes_per_block=30)
    rows = _fresh_rows()

    labels, probabilities = _run(blocked, rows)
    want_labels, want_probabilities = _run(serving, rows)

    assert labels.tolist() == want_labels.tolist() == forest.predict(rows).tolist()
    assert np.abs(probabilities - want_probabilities).max() < 1e-6


def test_a_blocked_forest_regressor_answers_like_scikit_learn():
    X, y = make_regression(n_samples=600, n_features=FEATURES, random_state=0)
    forest = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(X, y)
    blocked, _ = block_trees(_graph(forest, "regression"), nodes_per_block=40)
    rows = _fresh_rows()

    (values,) = _run(blocked, rows)

    want = forest.predict(rows)
    assert np.abs(values.reshape(-1) - want).max() <= 1e-4 * max(1.0, np.abs(want).max())


@pytest.mark.parametrize("model", [
    GradientBoostingClassifier(n_estimators=20, random_state=0),  # a logistic post-transform and a base value
    make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0)),  # more than one node
    DecisionTreeClassifier(max_depth=4, random_state=0),  # one tree: one block
    LogisticRegression(),  # no trees
], ids=["gradient-boosting", "pipeline", "one-tree", "linear"])
def test_graphs_that_are_not_one_plain_forest_are_left_alone(model):
    X, y = _classification()
    model.fit(X, y)

    assert block_trees(_graph(model), nodes_per_block=40) is None


def test_a_forest_package_holds_a_verified_batch_graph_that_batch_loading_uses(tmp_path):
    forest, X = _forest_of_several_blocks()

    package = build_package(forest, tmp_path / "package", baseline=X)

    batch = package.manifest.compiled["batch"]
    assert batch["graph"] == "blocked" and batch["blocks"] >= 2
    assert batch["verification"]["labels_identical"] is True
    assert batch["file"] in package.manifest.files  # the digest covers it
    assert set(batch["cpu_seconds_per_million_rows"]) == {"onnx", "original"}
    loaded = load_package(package.path, batch=True)
    session_graph = onnx.load(str(package.path / batch["file"]))
    assert loaded.runtime == "onnx" and len(session_graph.graph.node) > 1
    rows = _fresh_rows(500).astype(float)
    assert loaded.predict(rows.tolist()) == forest.predict(rows).tolist()


def test_a_batch_graph_that_does_not_verify_is_not_kept(tmp_path, monkeypatch):
    """Blocks that answer differently (here: another forest's trees) leave batch on the serving graph."""
    from cloudeploy.packaging import compile as compile_module

    forest, X = _forest_of_several_blocks()
    other = RandomForestClassifier(n_estimators=20, random_state=1).fit(X, 1 - forest.predict(X))
    wrong = block_trees(_graph(other), nodes_per_block=400)
    monkeypatch.setattr(compile_module, "block_trees", lambda graph: wrong)

    package = build_package(forest, tmp_path / "package", baseline=X)

    batch = package.manifest.compiled["batch"]
    assert batch["graph"] == "serving" and "file" not in batch
    assert "model.batch.onnx" not in package.manifest.files
    assert load_package(package.path, batch=True).predict(X[:50].tolist()) == forest.predict(X[:50]).tolist()


def test_the_build_timings_are_not_part_of_the_package_identity(tmp_path):
    """The same forest packaged twice gets other timings but the same digest."""
    forest, X = _forest_of_several_blocks()

    first = build_package(forest, tmp_path / "a", baseline=X).manifest
    second = build_package(forest, tmp_path / "b", baseline=X).manifest

    assert first.compiled["batch"]["cpu_seconds_per_million_rows"] != second.compiled["batch"][
        "cpu_seconds_per_million_rows"]  # measured twice: never the same to the nanosecond
    assert first.digest == second.digest
