"""``cloudeploy deploy`` / ``predict`` with a profile pointing at the emulator, in-process."""

from __future__ import annotations

import collections
import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from tests.vertex.conftest import fitted_model, instances


@pytest.fixture
def runner(vertex_emulator, tmp_path, monkeypatch):
    """A CliRunner whose cloudeploy.toml has the emulator as default profile ``emu``."""
    from cloudeploy.config import write_profile

    settings = vertex_emulator.profile_settings(bucket="cli-tests")
    config = write_profile(
        "emu",
        "vertex",
        {k: v for k, v in settings.items() if k != "provider"},
        path=tmp_path / "cloudeploy.toml",
    )
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    return CliRunner()


@pytest.fixture
def model_file(tmp_path):
    import joblib

    def make(seed: int):
        path = tmp_path / f"model-{seed}.joblib"
        joblib.dump(fitted_model(seed), path)
        return str(path)

    return make


def run_json(runner, *args):
    result = runner.invoke(
        cli, [*args, "--profile", "emu", "--output", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_deploy_then_predict_returns_the_models_predictions(runner, model_file):
    deployed = run_json(runner, "deploy", model_file(0), "--name", "fraud")
    prediction = run_json(runner, "predict", "fraud", "--instances", json.dumps(instances()))
    assert deployed["endpoint"]["traffic"] == {"v1": 100}
    assert prediction["predictions"] == fitted_model(0).predict(instances()).tolist()


def test_a_canary_at_10_percent_shows_the_split(runner, model_file):
    run_json(runner, "deploy", model_file(0), "--name", "fraud")
    canary = run_json(runner, "deploy", model_file(1), "--name", "fraud", "--traffic", "10")
    served = collections.Counter(
        run_json(runner, "predict", "fraud", "--instances", json.dumps(instances(1)))["version"]
        for _ in range(20)
    )
    assert canary["endpoint"]["traffic"] == {"v1": 90, "v2": 10}
    assert served == {"v1": 18, "v2": 2}


def test_a_bad_profile_is_one_line_of_error_not_a_traceback(runner, tmp_path, monkeypatch):
    from cloudeploy.config import write_profile

    config = write_profile("broken", "vertex", {"project": "p"}, path=tmp_path / "broken.toml")
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(config))
    result = runner.invoke(
        cli, ["predict", "fraud", "--instances", "[[1, 2, 3]]", "--profile", "broken"]
    )
    assert result.exit_code == 2
    assert "missing region, staging_bucket" in result.stderr
    assert "Traceback" not in result.output
