"""The `monitor` commands and `promote --max-drift`: bad input is a clear error, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.monitoring.gate import DriftGate, drift_gate
from cloudeploy.rollout.gates import build_gates
from cloudeploy.rollout.plan import RolloutPlan


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_threshold_without_a_value_is_refused(home):
    result = invoke("monitor", "configure", "ep", "--skew-threshold", "age")
    assert result.exit_code == 2
    assert "--skew-threshold takes FEATURE=THRESHOLD, got 'age'" in result.output
    assert "Traceback" not in result.output


def test_threshold_above_one_is_refused_naming_the_feature(home):
    result = invoke("monitor", "configure", "ep", "--drift-threshold", "age=1.5")
    assert result.exit_code == 2
    assert "drift threshold for 'age' must be in [0, 1]" in result.output


def test_training_data_must_be_a_cloud_uri(home):
    result = invoke("monitor", "configure", "ep", "--training-data", "train.csv")
    assert result.exit_code == 2
    assert "training_data must be a gs:// or bq:// URI" in result.output


def test_run_on_an_unknown_endpoint_is_a_not_found_error(home):
    result = invoke("monitor", "run", "nowhere", "--provider", "local", "--output", "json")
    assert result.exit_code != 0
    assert "nowhere" in result.output
    assert "Traceback" not in result.output


def test_bad_window_is_refused(home):
    result = invoke("monitor", "run", "ep", "--provider", "local", "--window", "soon")
    assert result.exit_code == 2
    assert "window must be a duration" in result.output


def test_max_drift_outside_zero_to_one_is_refused(home):
    result = invoke("promote", "ep", "--to", "v2", "--max-drift", "2")
    assert result.exit_code == 2
    assert "drift gate max must be a number in [0, 1], got 2.0" in result.output


def test_plan_gates_table_builds_the_drift_gate_by_entry_point():
    gates = build_gates(RolloutPlan(steps=(50, 100), gates={"drift": {"max": 0.2}}))
    drift = [g for g in gates if g.name == "drift"]
    assert [(type(g), g.max_score) for g in drift] == [(DriftGate, 0.2)]


def test_drift_gate_refuses_unknown_settings():
    with pytest.raises(Exception, match="takes max, preset and min_rows, not limit"):
        drift_gate({"max": 0.3, "limit": 1})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "age=gini"], "unknown metric 'gini'"),
        (["--metric", "age"], "--metric takes FEATURE=METRIC, got 'age'"),
        (["--metric-threshold", "psi"], "--metric-threshold takes METRIC=THRESHOLD, got 'psi'"),
        (["--preset", "strict"], "Invalid value for '--preset'"),
        (["--outlier-threshold", "2"], "outlier_threshold must be in [0, 1]"),
    ],
)
def test_bad_statistics_settings_are_one_clear_line(home, args, message):
    result = invoke("monitor", "configure", "ep", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_preset_gate_refuses_max_on_the_promote_command_line(home):
    result = invoke("promote", "ep", "--to", "v2", "--steps", "50,100", "--gate", "drift:preset=sensitive,max=0.3",
                    "--provider", "local")
    assert result.exit_code == 2
    assert "max applies to the vertex preset" in result.output
    assert "Traceback" not in result.output
