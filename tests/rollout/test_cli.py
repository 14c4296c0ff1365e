"""`cloudeploy promote` and `cloudeploy rollback` in-process, on the in-memory provider."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

import cloudeploy.api
from cloudeploy.cli import cli
from cloudeploy.rollout.state import store_for
from tests.rollout.fakes import FakeClock, FakeProvider

FAST = ["--steps", "50,100", "--bake", "100ms", "--min-requests", "1", "--no-live"]


@pytest.fixture
def provider(tmp_path, monkeypatch):
    fake = FakeProvider(tmp_path, FakeClock())
    fake.clock.now = 0.0  # metrics windows are wall-clock here; only their length matters
    monkeypatch.setattr(cloudeploy.api, "resolve_provider", lambda *args, **kwargs: fake)
    return fake


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ctrl_c_while_baking(version, percent, seconds):
    if percent:  # not the check before the first step: during its bake
        raise KeyboardInterrupt
    return 0, 0, None


def failing(version, percent, seconds):
    requests = max(1, int(100 * seconds * percent / 100))
    return requests, requests, 10.0


def test_promote_with_a_plan_prints_the_outcome_and_decisions_as_json(provider):
    result = run("promote", "ep", "--to", "v2", *FAST, "--output", "json")
    report = json.loads(result.output)
    assert result.exit_code == 0
    assert report["outcome"] == "promoted"
    assert report["traffic"] == {"v1": 0, "v2": 100}
    assert [d["action"] for d in report["decisions"]] == ["step", "proceed", "step", "promoted"]


def test_rolled_back_promotion_exits_with_status_3(provider):
    provider.behaviours["v2"] = failing
    result = run("promote", "ep", "--to", "v2", *FAST, "--max-error-rate", "1%", "--output", "json")
    assert result.exit_code == 3
    assert json.loads(result.output)["outcome"] == "rolled_back"
    assert provider.split == {"v1": 100, "v2": 0}


def test_the_text_summary_shows_each_gates_numbers(provider):
    provider.behaviours["v2"] = failing
    result = run("promote", "ep", "--to", "v2", *FAST, "--max-error-rate", "1%")
    assert result.exit_code == 3
    line = next(line for line in result.output.splitlines() if line.strip().startswith("error_rate:"))
    # the judged number, the serving version's when it saw requests in the window (wall-clock here), the limit
    assert re.fullmatch(r"error_rate: 1( \(baseline 0\))? vs 0\.01 ✗", line.strip()), line


def test_promote_without_plan_flags_moves_traffic_at_once(provider):
    result = run("promote", "ep", "--to", "v2", "--output", "json")
    assert result.exit_code == 0
    assert provider.traffic_calls == [{"v1": 0, "v2": 100}]


def test_dry_run_prints_each_step_split_and_changes_nothing(provider):
    result = run("promote", "ep", "--to", "v2", "--steps", "10,50,100", "--bake", "2m", "--dry-run", "-O", "json")
    plan = json.loads(result.output)
    assert result.exit_code == 0
    assert [s["split"] for s in plan["steps"]] == [{"v1": 90, "v2": 10}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]
    assert {s["bake"] for s in plan["steps"]} == {"2m"}
    assert provider.traffic_calls == []


def test_dry_run_as_text_names_the_steps(provider):
    result = run("promote", "ep", "--to", "v2", "--steps", "25,100", "--dry-run")
    assert "v1=75%, v2=25%" in result.output
    assert "dry run" in result.output


def test_flags_override_the_plan_file(provider, tmp_path):
    path = tmp_path / "rollout.toml"
    path.write_text('steps = [10, 100]\nbake = "30s"\nmax_p99_ms = 250\n')
    result = run("promote", "ep", "--to", "v2", "--plan", str(path), "--bake", "5s", "--dry-run", "-O", "json")
    plan = json.loads(result.output)["plan"]
    assert (plan["steps"], plan["bake_s"], plan["max_p99_ms"]) == ([10, 100], 5.0, 250.0)


def test_bad_bake_is_a_clear_error_with_status_2(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--bake", "soon"])
    assert result.exit_code == 2
    assert "invalid bake time 'soon'" in result.output
    assert "Traceback" not in result.output


def test_resume_with_plan_flags_is_refused(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--resume", "--steps", "50,100"])
    assert result.exit_code == 2
    assert "--resume continues with the stopped rollout's own plan" in result.output


def test_promote_without_to_is_refused(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--bake", "1s"])
    assert result.exit_code == 2
    assert "--to VERSION" in result.output


def test_interrupted_promote_exits_130_and_says_how_to_resume(provider):
    provider.behaviours["v2"] = ctrl_c_while_baking
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", *FAST])
    assert result.exit_code == 130
    assert "cloudeploy promote ep --resume" in result.output
    assert store_for(provider, "ep").load().status == "interrupted"
    assert provider.split == {"v1": 50, "v2": 50}


def test_rollback_command_returns_a_stopped_rollout_to_its_starting_split(provider):
    from cloudeploy.rollout.state import RolloutState

    provider.set_traffic("ep", {"v1": 50, "v2": 50})
    store_for(provider, "ep").save(RolloutState(endpoint="ep", provider="fake", to_version="v2",
                                                plan={"steps": [50, 100], "bake_s": 1}, from_split={"v1": 100, "v2": 0},
                                                status="interrupted", step_index=0))
    result = run("rollback", "ep", "--output", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["traffic"] == {"v1": 100, "v2": 0}


def test_live_view_runs_the_promotion_to_the_end(provider):
    result = run("promote", "ep", "--to", "v2", "--steps", "50,100", "--bake", "100ms", "--min-requests", "1",
                 "--live")
    assert result.exit_code == 0
    assert "promote v2 on ep" in result.output
    assert provider.split == {"v1": 0, "v2": 100}


def test_rollout_stopped_by_an_error_says_how_to_resume(provider):
    from cloudeploy.errors import ProviderError

    def broken(version, percent, seconds):
        if percent:
            raise ProviderError("metrics endpoint is gone")
        return 0, 0, None

    provider.behaviours["v2"] = broken
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", *FAST])
    assert result.exit_code == ProviderError.exit_code
    assert "metrics endpoint is gone" in result.output
    assert "cloudeploy promote ep --resume" in result.output


def test_promote_refused_before_starting_does_not_talk_about_resuming(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v9", *FAST])
    assert result.exit_code == 4
    assert "--resume" not in result.output


def test_ctrl_c_at_a_terminal_offers_to_roll_back_and_does_it_when_asked(provider, monkeypatch):
    import cloudeploy.commands.promote as command

    monkeypatch.setattr(command, "_interactive", lambda: True)
    provider.behaviours["v2"] = ctrl_c_while_baking
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", *FAST], input="y\n")
    assert "Roll back to the split it started from now?" in result.output
    assert result.exit_code == 130
    assert provider.split == {"v1": 100, "v2": 0}
    assert store_for(provider, "ep").load().status == "rolled_back"


def test_ctrl_c_at_a_terminal_leaves_the_rollout_resumable_when_declined(provider, monkeypatch):
    import cloudeploy.commands.promote as command

    monkeypatch.setattr(command, "_interactive", lambda: True)
    provider.behaviours["v2"] = ctrl_c_while_baking
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", *FAST], input="n\n")
    assert result.exit_code == 130
    assert "cloudeploy promote ep --resume" in result.output
    assert provider.split == {"v1": 50, "v2": 50}


def test_dry_run_of_resume_shows_the_steps_left(provider):
    provider.behaviours["v2"] = ctrl_c_while_baking
    CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--steps", "10,50,100", "--bake", "1s", "--no-live"])
    result = run("promote", "ep", "--resume", "--dry-run", "-O", "json")
    plan = json.loads(result.output)
    assert plan["resume"] is True
    assert [s["percent"] for s in plan["steps"]] == [10, 50, 100]
    assert plan["from_split"] == {"v1": 100, "v2": 0}


def test_dry_run_of_native_mode_shows_the_sagemaker_request(provider, monkeypatch):
    from cloudeploy.providers.sagemaker.native_rollout import SageMakerNativeRollout

    # Compiling reads only the plan: SageMaker's native rollout over the fake provider.
    monkeypatch.setattr(provider, "native_rollout", lambda: SageMakerNativeRollout(provider), raising=False)
    result = run("promote", "ep", "--to", "v2", "--native", "--steps", "10,100", "--bake", "5m",
                 "--max-error-rate", "1%", "--dry-run", "-O", "json")
    native = json.loads(result.output)["native"]
    routing = native["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert (routing["Type"], routing["WaitIntervalInSeconds"]) == ("CANARY", 300)
    assert native["Alarms"][0]["MetricName"] == "Invocation5XXErrors"


def test_native_mode_on_another_provider_is_refused(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--native", "--steps", "10,100"])
    assert result.exit_code == 2
    assert "--native needs the sagemaker provider" in result.output


def test_gate_flag_configures_a_registered_gate(provider, monkeypatch):
    from cloudeploy.rollout import gates
    from cloudeploy.rollout.gates import ErrorRateGate

    monkeypatch.setattr(gates, "_REGISTRY", {"strict": lambda settings: ErrorRateGate(settings["max"])})
    result = run("promote", "ep", "--to", "v2", "--gate", "strict:max=0.001", "--dry-run", "-O", "json")
    data = json.loads(result.output)
    assert data["plan"]["gates"] == {"strict": {"max": 0.001}}
    assert "error rate of the new version ≤ 0.10%" in " ".join(data["checks"])


def test_unknown_gate_flag_is_refused_naming_it(provider):
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--gate", "nonesuch:max=0.3"])
    assert result.exit_code == 2
    assert "unknown rollout gate 'nonesuch'" in result.output


@pytest.mark.parametrize("flags, fragment", [
    (["--max-prediction-shift", "1.5"], "max_prediction_shift must be between 0 and 1"),
    (["--max-p50-ratio", "0"], "max_p50_ratio must be a positive number"),
    (["--input-error-margin", "200%"], "input_error_margin must be between 0 and 1"),
    (["--max-model-error-rate", "-1"], "max_model_error_rate must be between 0 and 1"),
])
def test_a_gate_threshold_out_of_range_is_exit_2_naming_it(provider, flags, fragment):
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", *flags])
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_an_unknown_gate_in_a_plan_file_is_exit_2_naming_it(provider, tmp_path):
    path = tmp_path / "rollout.toml"
    path.write_text("steps = [50, 100]\n[gates.latency_budget]\nmax = 3\n")
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--plan", str(path)])
    assert result.exit_code == 2
    assert "unknown rollout gate 'latency_budget'" in result.output


def test_json_output_carries_each_gates_numbers_for_both_versions(provider):
    provider.behaviours["v2"] = failing
    result = run("promote", "ep", "--to", "v2", *FAST, "--max-p50-ratio", "2", "--output", "json")
    report = json.loads(result.output)
    rollback = report["decisions"][-1]
    gate = next(g for g in rollback["gates"] if g["gate"] == "error_rate")
    assert gate["passed"] is False and gate["new"] == 1.0 and "baseline" in gate
    assert {"new", "baseline"} <= set(next(g for g in rollback["gates"] if g["gate"] == "p50_ratio"))
    assert rollback["metrics"]["baseline"]["version"] == "v1"
