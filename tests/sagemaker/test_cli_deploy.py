"""``cloudeploy deploy`` then ``cloudeploy predict`` with a profile for the emulation."""

from __future__ import annotations

import json

import joblib
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import write_profile
from cloudeploy.testing.conformance import fitted_classifier, sample_instances


@pytest.fixture
def profile_env(settings, tmp_path, monkeypatch):
    config = write_profile("emu", "sagemaker", settings, path=tmp_path / "cloudeploy.toml")
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    return "emu"


def test_deploy_then_predict_returns_the_models_predictions(profile_env, tmp_path):
    model_file = tmp_path / "model.joblib"
    joblib.dump(fitted_classifier(2), model_file)
    runner = CliRunner()
    deployed = runner.invoke(
        cli,
        [
            "deploy",
            str(model_file),
            "--name",
            "house",
            "--profile",
            profile_env,
            "--output",
            "json",
        ],
    )
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["endpoint"]["traffic"] == {"v1": 100}
    rows = sample_instances()
    predicted = runner.invoke(
        cli,
        ["predict", "house", "-i", json.dumps(rows), "--profile", profile_env, "--output", "json"],
    )
    assert predicted.exit_code == 0, predicted.output
    assert (
        json.loads(predicted.stdout)["predictions"] == fitted_classifier(2).predict(rows).tolist()
    )


def test_predict_on_an_unknown_endpoint_is_a_clean_error(profile_env):
    result = CliRunner().invoke(
        cli, ["predict", "nope", "-i", "[[1, 2, 3, 4]]", "--profile", profile_env]
    )
    assert result.exit_code == 4
    assert "Traceback" not in result.output
