"""``cloudeploy package``: the CLI over build_package."""

from __future__ import annotations

import json
import subprocess
import sys

import joblib
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.packaging import read_manifest


@pytest.fixture
def model_file(classifier, tmp_path):
    path = tmp_path / "churn.joblib"
    joblib.dump(classifier, path)
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["package", *map(str, args)])


def test_package_writes_a_package_and_prints_its_summary(model_file, tmp_path):
    result = _run(model_file, "-o", tmp_path / "pkg")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "pkg")
    assert manifest.name == "churn"
    assert manifest.digest in result.output


def test_json_output_is_one_document_with_the_manifest(model_file, tmp_path):
    result = _run(model_file, "-o", tmp_path / "pkg", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["digest"] == read_manifest(tmp_path / "pkg").digest
    assert data["path"] == str(tmp_path / "pkg")
    assert data["schema"]["features"][0]["name"] == "x0"


def test_name_option_names_the_package(model_file, tmp_path):
    _run(model_file, "-o", tmp_path / "pkg", "--name", "churn-v2")
    assert read_manifest(tmp_path / "pkg").name == "churn-v2"


def test_feature_names_option_sets_names_and_types(model_file, tmp_path):
    result = _run(
        model_file,
        "-o",
        tmp_path / "pkg",
        "--feature-names",
        "age:integer,income,score,flag:boolean",
    )
    assert result.exit_code == 0, result.output
    features = read_manifest(tmp_path / "pkg").schema.features
    assert [(f.name, f.type) for f in features] == [
        ("age", "integer"),
        ("income", "number"),
        ("score", "number"),
        ("flag", "boolean"),
    ]


def test_output_kind_option_is_recorded(model_file, tmp_path):
    _run(model_file, "-o", tmp_path / "pkg", "--output-kind", "probabilities")
    assert read_manifest(tmp_path / "pkg").output_kind == "probabilities"


def test_baseline_option_computes_statistics_from_a_csv(model_file, training_data, tmp_path):
    import pandas as pd

    X, _ = training_data
    csv = tmp_path / "train.csv"
    pd.DataFrame(X, columns=["a", "b", "c", "d"]).to_csv(csv, index=False)
    result = _run(model_file, "-o", tmp_path / "pkg", "--baseline", csv, "-O", "json")
    assert result.exit_code == 0, result.output
    baseline = read_manifest(tmp_path / "pkg").baseline
    assert [f["name"] for f in baseline["features"]] == ["x0", "x1", "x2", "x3"]
    assert json.loads(result.output)["baseline"] == {"features": 4}


def test_non_empty_output_is_one_error_line_with_the_conflict_exit_code(model_file, tmp_path):
    from cloudeploy.errors import ConflictError

    _run(model_file, "-o", tmp_path / "pkg")
    result = _run(model_file, "-o", tmp_path / "pkg")
    assert result.exit_code == ConflictError.exit_code
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert "--overwrite" in result.output


def test_overwrite_option_replaces_the_package(model_file, tmp_path):
    _run(model_file, "-o", tmp_path / "pkg", "--name", "first")
    result = _run(model_file, "-o", tmp_path / "pkg", "--name", "second", "--overwrite")
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "pkg").name == "second"


def test_missing_model_file_is_a_clear_error(tmp_path):
    result = _run(tmp_path / "missing.joblib", "-o", tmp_path / "pkg")
    assert result.exit_code != 0
    assert "missing.joblib does not exist" in result.output
    assert "Traceback" not in result.output


def test_trust_option_packages_a_custom_class(tmp_path, custom_model_module):
    import pickle

    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(custom_model_module.ConstantModel()))
    assert _run(path, "-o", tmp_path / "refused").exit_code != 0
    assert _run(path, "-o", tmp_path / "pkg", "--trust").exit_code == 0


def test_allow_global_option_extends_the_allowlist(tmp_path, custom_model_module):
    import pickle

    path = tmp_path / "custom.pkl"
    path.write_bytes(pickle.dumps(custom_model_module.ConstantModel()))
    result = _run(
        path,
        "-o",
        tmp_path / "pkg",
        "--allow-global",
        "cloudeploy_test_custom_models.ConstantModel",
    )
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "pkg").trusted_types == [
        "cloudeploy_test_custom_models.ConstantModel"
    ]


def test_importing_the_packaging_api_loads_no_heavy_library():
    code = (
        "import sys, cloudeploy.packaging, cloudeploy.commands.package;"
        "heavy = [m for m in ('sklearn', 'numpy', 'joblib', 'pandas', 'skops', 'onnxruntime') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""
