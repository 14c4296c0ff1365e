"""The lifecycle CLI, in-process (CliRunner) and as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.providers.local.processes import pid_alive
from cloudeploy.testing.conformance import fitted_classifier, sample_instances


@pytest.fixture
def runner(home):
    return CliRunner()


@pytest.fixture
def model_files(tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"model-{seed}.joblib"
        joblib.dump(fitted_classifier(seed), path)
        paths.append(path)
    return paths


def run_json(runner, *args):
    result = runner.invoke(cli, [*args, "--output", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_deploy_predict_traffic_promote_rollback(runner, model_files, tmp_path):
    first = run_json(runner, "deploy", str(model_files[0]), "--name", "iris")
    assert first["version"] == "v1"
    assert first["endpoint"]["traffic"] == {"v1": 100}

    second = run_json(runner, "deploy", str(model_files[1]), "--name", "iris", "--traffic", "10")
    assert second["endpoint"]["traffic"] == {"v1": 90, "v2": 10}

    instances = tmp_path / "rows.json"
    instances.write_text(json.dumps(sample_instances(3)))
    prediction = run_json(runner, "predict", "iris", "--instances", f"@{instances}", "--version", "v2")
    assert prediction["version"] == "v2"
    assert prediction["predictions"] == fitted_classifier(1).predict(sample_instances(3)).tolist()

    assert run_json(runner, "traffic", "iris", "v1=50", "v2=50")["traffic"] == {"v1": 50, "v2": 50}
    assert run_json(runner, "promote", "iris", "--to", "2")["traffic"] == {"v1": 0, "v2": 100}
    assert run_json(runner, "rollback", "iris")["traffic"] == {"v1": 50, "v2": 50}

    listed = run_json(runner, "models", "show", "iris")
    assert [v["version"] for v in listed] == ["v1", "v2"]
    status = run_json(runner, "status")
    assert [e["name"] for e in status["endpoints"]] == ["iris"]
    run_json(runner, "endpoints", "delete", "iris", "--force")


def test_bad_split_exits_non_zero_with_one_line(runner, model_files):
    run_json(runner, "deploy", str(model_files[0]), "--name", "iris")
    result = runner.invoke(cli, ["traffic", "iris", "v1=60"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "sum to 100" in result.stderr
    run_json(runner, "endpoints", "delete", "iris", "--force")


def test_unknown_endpoint_exits_with_not_found(runner):
    result = runner.invoke(cli, ["endpoints", "show", "nope"])
    assert result.exit_code == 4
    assert "nope" in result.stderr


def test_min_greater_than_max_is_refused_before_anything_happens(runner, model_files):
    result = runner.invoke(cli, ["deploy", str(model_files[0]), "--name", "iris",
                                 "--min-replicas", "3", "--max-replicas", "2"])
    assert result.exit_code == 2
    assert "min_replicas (3) is greater than max_replicas (2)" in result.stderr
    assert run_json(runner, "status")["endpoints"] == []


def test_delete_of_a_serving_endpoint_needs_force(runner, model_files):
    run_json(runner, "deploy", str(model_files[0]), "--name", "iris")
    result = runner.invoke(cli, ["endpoints", "delete", "iris"])
    assert result.exit_code == 5
    assert "--force" in result.stderr
    assert run_json(runner, "endpoints", "show", "iris")["traffic"] == {"v1": 100}
    run_json(runner, "endpoints", "delete", "iris", "--force")


def test_a_schema_change_is_refused_unregistered_unless_allowed(runner, tmp_path, model_files):
    from sklearn.linear_model import LogisticRegression

    run_json(runner, "deploy", str(model_files[0]), "--name", "iris")
    narrow = tmp_path / "narrow.joblib"
    joblib.dump(LogisticRegression().fit([[0, 1], [1, 0], [1, 1], [0, 0]], [0, 1, 1, 0]), narrow)

    refused = runner.invoke(cli, ["deploy", str(narrow), "--name", "iris"])

    assert refused.exit_code == 2
    assert "takes inputs" in refused.stderr and "--allow-schema-change" in refused.stderr
    assert [d["version"] for d in run_json(runner, "endpoints", "show", "iris")["deployments"]] == ["v1"]
    assert [v["version"] for v in run_json(runner, "models", "show", "iris")] == ["v1"]

    allowed = runner.invoke(cli, ["deploy", str(narrow), "--name", "iris", "--allow-schema-change"])

    assert allowed.exit_code == 0, allowed.output
    assert [d["version"] for d in run_json(runner, "endpoints", "show", "iris")["deployments"]] == ["v1", "v2"]
    # A re-run of the allowed deploy converges instead of being judged again.
    again = runner.invoke(cli, ["deploy", str(narrow), "--name", "iris"])
    assert again.exit_code == 0, again.output
    run_json(runner, "endpoints", "delete", "iris", "--force")


def _processes_under(home: Path) -> list[int]:
    """Pids of gateway and replica processes belonging to ``home``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(home) in cmdline and ("cloudeploy.providers.local.gateway" in cmdline) or str(home) in cmdline and " serve " in cmdline:
            pids.append(int(proc.name))
    return [p for p in pids if pid_alive(p)]


@pytest.mark.parametrize("kill_after", [0.5, 2.5])
def test_killed_deploy_rerun_converges_without_orphans(home, model_files, kill_after):
    env = {**os.environ, "CLOUDEPLOY_HOME": str(home)}
    command = [sys.executable, "-m", "cloudeploy.cli", "deploy", str(model_files[0]), "--name", "crash"]
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    rerun = subprocess.run([*command, "--output", "json"], env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["version"] == "v1"
    assert result["endpoint"]["traffic"] == {"v1": 100}

    listed = subprocess.run([sys.executable, "-m", "cloudeploy.cli", "status", "--output", "json"],
                            env=env, capture_output=True, text=True, timeout=60)
    endpoints = json.loads(listed.stdout)["endpoints"]
    assert [e["name"] for e in endpoints] == ["crash"]
    assert [d["replicas"] for d in endpoints[0]["deployments"]] == [1]
    # exactly one gateway and one replica for this home
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(_processes_under(home)) != 2:
        time.sleep(0.2)
    assert len(_processes_under(home)) == 2

    subprocess.run([sys.executable, "-m", "cloudeploy.cli", "endpoints", "delete", "crash", "--force"],
                   env=env, capture_output=True, timeout=120, check=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _processes_under(home):
        time.sleep(0.2)
    assert _processes_under(home) == []
