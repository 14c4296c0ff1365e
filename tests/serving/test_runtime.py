"""Which runtime answers: the verified compiled graph by default (never unpickling), or the original when forced."""

from __future__ import annotations

import pickle
import shutil
import textwrap

import httpx
import numpy as np
import pytest

from cloudeploy.packaging import build_package, read_manifest, sha256_file

#: Imported first by every Python process started with it on PYTHONPATH: no pickle, no joblib, no scikit-learn.
POISON = '''
import pickle
import sys


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("joblib", "sklearn", "skops", "cloudpickle"):
            raise ImportError(f"{name} is blocked: this server must not need it")
        return None


def _refuse(*args, **kwargs):
    raise RuntimeError("unpickling is blocked: this server must not unpickle")


sys.meta_path.insert(0, _Blocked())
pickle.load = pickle.loads = pickle.Unpickler = _refuse
pickle._Unpickler.load = _refuse
'''


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _poisoned_env(tmp_path) -> dict[str, str]:
    from tests.serving.helpers import _pythonpath

    site = tmp_path / "poison"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(POISON))
    return {"PYTHONPATH": f"{site}:{_pythonpath()}"}


def _with_malicious_model_file(package_dir, target, marker):
    """A copy of the package whose model.joblib is a pickle that writes ``marker`` when loaded."""
    package = shutil.copytree(package_dir, target)
    manifest = read_manifest(package)
    model_file = package / manifest.model_file
    model_file.write_bytes(pickle.dumps(_Payload(str(marker))))
    files = dict(manifest.files) | {manifest.model_file: sha256_file(model_file)}
    type(manifest)(**{**manifest.__dict__, "files": files}).write(package)
    return package


def _info_line(metrics: str) -> str:
    return next(line for line in metrics.splitlines() if line.startswith("cloudeploy_model_info{"))


def test_compiled_package_is_served_without_unpickling_or_scikit_learn(
    start_server, forest_package, forest, breast_cancer, tmp_path
):
    assert read_manifest(forest_package).runtime == "onnx"
    marker = tmp_path / "pwned"
    package = _with_malicious_model_file(forest_package, tmp_path / "package", marker)
    server = start_server(package, "--version", "v3", env=_poisoned_env(tmp_path))
    features, _ = breast_cancer
    instances = features.iloc[:40].to_dict(orient="records")
    with httpx.Client(timeout=30) as client:
        reply = client.post(f"{server.url}/predict", json={"instances": instances})
        metrics = client.get(f"{server.url}/metrics").text
        openapi = client.get(f"{server.url}/openapi.json").json()
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    assert predictions == forest.predict(features.iloc[:40]).tolist()
    assert all(type(p) is int for p in predictions)
    assert not marker.exists()
    assert 'runtime="onnx"' in _info_line(metrics)
    assert openapi["info"]["x-cloudeploy-runtime"] == "onnx"


def test_the_poison_does_stop_a_server_that_unpickles(start_server, forest_package, tmp_path):
    server = start_server(forest_package, "--runtime", "sklearn", env=_poisoned_env(tmp_path), ready=False)
    assert server.wait_exit(60) != 0


def test_runtime_sklearn_serves_the_original_model(start_server, forest_package, forest, breast_cancer):
    server = start_server(forest_package, "--runtime", "sklearn")
    features, _ = breast_cancer
    with httpx.Client(timeout=30) as client:
        reply = client.post(f"{server.url}/predict", json={"instances": features.iloc[:5].to_dict(orient="records")})
        metrics = client.get(f"{server.url}/metrics").text
        openapi = client.get(f"{server.url}/openapi.json").json()
    assert reply.json()["predictions"] == forest.predict(features.iloc[:5]).tolist()
    assert 'runtime="sklearn"' in _info_line(metrics)
    assert openapi["info"]["x-cloudeploy-runtime"] == "sklearn"


def test_runtime_onnx_without_a_verified_graph_is_one_line_and_an_error_exit(start_server, forest, tmp_path):
    package = build_package(forest, tmp_path / "package", compile=False).path
    server = start_server(package, "--runtime", "onnx", ready=False)
    assert server.wait_exit(60) != 0
    assert "no verified compiled graph" in server.stderr
    assert "Traceback" not in server.stderr


def test_string_labels_stay_strings_through_the_compiled_graph(start_server, tmp_path):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], 300), "size": rng.normal(10, 3, 300)})
    labels = np.where((frame["colour"] == "red") | (frame["size"] > 12), "keep", "drop")
    model = make_pipeline(
        ColumnTransformer([("colour", OneHotEncoder(), ["colour"]), ("size", StandardScaler(), ["size"])]),
        LogisticRegression(),
    ).fit(frame, labels)
    package = build_package(model, tmp_path / "package", baseline=frame)
    assert package.manifest.runtime == "onnx"
    server = start_server(package.path)
    instances = frame.iloc[:20].to_dict(orient="records")
    reply = httpx.post(f"{server.url}/predict", json={"instances": instances}, timeout=30)
    assert reply.json()["predictions"] == model.predict(frame.iloc[:20]).tolist()
    # An unseen category is refused by the schema before the graph, as scikit-learn would refuse it.
    refused = httpx.post(f"{server.url}/predict", json={"instances": [{"colour": "mauve", "size": 3.0}]}, timeout=30)
    assert refused.status_code == 400


def test_serve_help_names_the_runtimes():
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--runtime" in result.output and "onnx" in result.output and "sklearn" in result.output


def test_status_says_which_runtime_answers_each_deployed_version(tmp_path, monkeypatch, forest, breast_cancer):
    import contextlib
    import json

    import joblib
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    joblib.dump(forest, tmp_path / "forest.joblib")
    runner = CliRunner()
    deployed = runner.invoke(cli, ["deploy", str(tmp_path / "forest.joblib"), "--name", "bc", "--output", "json"])
    try:
        assert deployed.exit_code == 0, deployed.output
        forced = runner.invoke(
            cli, ["deploy", str(tmp_path / "forest.joblib"), "--name", "bc", "--runtime", "sklearn", "--output", "json"]
        )
        assert forced.exit_code == 0, forced.output
        status = runner.invoke(cli, ["status", "--output", "json"])
        assert status.exit_code == 0, status.output
        (endpoint,) = json.loads(status.stdout)["endpoints"]
        assert [(d["version"], d["runtime"]) for d in endpoint["deployments"]] == [("v1", "onnx"), ("v2", "sklearn")]
        table = runner.invoke(cli, ["status"], env={"COLUMNS": "200"})
        assert "runtime" in table.output and "onnx" in table.output
    finally:
        with contextlib.suppress(Exception):
            runner.invoke(cli, ["endpoints", "delete", "bc", "--force"])


def test_deploy_runtime_onnx_refuses_a_model_without_a_graph_in_one_line(tmp_path, monkeypatch, breast_cancer):
    import joblib
    from click.testing import CliRunner
    from sklearn.dummy import DummyClassifier

    from cloudeploy.cli import cli

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    features, target = breast_cancer
    joblib.dump(DummyClassifier().fit(features.to_numpy(), target), tmp_path / "dummy.joblib")
    result = CliRunner().invoke(cli, ["deploy", str(tmp_path / "dummy.joblib"), "--name", "d", "--runtime", "onnx"])
    assert result.exit_code != 0
    assert "no verified compiled graph" in result.output and "no ONNX converter for DummyClassifier" in result.output
    assert "Traceback" not in result.output


def test_a_model_whose_graph_does_not_verify_is_served_by_the_original(start_server, tmp_path):
    from tests.packaging.test_compile import _unverifiable_model

    model, X = _unverifiable_model()
    with pytest.warns(UserWarning, match="not compiled, serving with the original runtime"):
        package = build_package(model, tmp_path / "package", baseline=X)
    server = start_server(package.path)
    with httpx.Client(timeout=30) as client:
        reply = client.post(f"{server.url}/predict", json={"instances": X[:50].tolist()})
        metrics = client.get(f"{server.url}/metrics").text
    assert reply.json()["predictions"] == model.predict(X[:50]).tolist()
    assert 'runtime="sklearn"' in _info_line(metrics)
