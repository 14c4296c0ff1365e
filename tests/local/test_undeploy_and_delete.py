"""`cloudeploy undeploy` and `cloudeploy models delete` on the local provider.

A version that receives traffic is not undeployed unless the same call moves its
traffic away; a deployed version is not deleted; a deleted version's number is
never given again; re-runs converge.
"""

from __future__ import annotations

import json

import joblib
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.testing.conformance import fitted_classifier

pytestmark = pytest.mark.slow


@pytest.fixture
def runner(home):
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(cli, list(args))


def shown(runner, *args):
    result = runner.invoke(cli, [*args, "--output", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def two_versions(runner, tmp_path):
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"model-{seed}.joblib"
        joblib.dump(fitted_classifier(seed), path)
        paths.append(path)
    assert invoke(runner, "deploy", str(paths[0]), "--name", "ep").exit_code == 0
    assert invoke(runner, "deploy", str(paths[1]), "--name", "ep", "--traffic", "10").exit_code == 0
    yield paths
    invoke(runner, "endpoints", "delete", "ep", "--force")


def test_undeploy_needs_the_traffic_moved_away_in_the_same_call(runner, two_versions):
    refused = invoke(runner, "undeploy", "ep", "v2")
    assert refused.exit_code == 5
    assert "receives 10%" in refused.stderr and "v1=100" in refused.stderr
    assert shown(runner, "endpoints", "show", "ep")["traffic"] == {"v1": 90, "v2": 10}

    # A split that keeps traffic on the version is not a way around the rule.
    assert invoke(runner, "undeploy", "ep", "v2", "v2=100").exit_code == 2

    result = invoke(runner, "undeploy", "ep", "v2", "v1=100")
    assert result.exit_code == 0, result.output
    status = shown(runner, "endpoints", "show", "ep")
    assert [d["version"] for d in status["deployments"]] == ["v1"]
    assert status["traffic"] == {"v1": 100}
    assert invoke(runner, "undeploy", "ep", "v2").exit_code == 0  # already gone: a no-op

    last = invoke(runner, "undeploy", "ep", "v1")
    assert last.exit_code == 5 and "endpoints delete" in last.stderr


def test_models_delete_refuses_a_deployed_version_and_never_reuses_its_number(runner, two_versions, home):
    deployed = invoke(runner, "models", "delete", "ep@v2")
    assert deployed.exit_code == 5 and "deployed on ep" in deployed.stderr

    assert invoke(runner, "undeploy", "ep", "v2", "v1=100").exit_code == 0
    artifacts_before = {p.name for p in (home / "artifacts").iterdir() if not p.name.startswith(".")}
    assert invoke(runner, "models", "delete", "ep@v2").exit_code == 0
    assert invoke(runner, "models", "delete", "ep@v2").exit_code == 0  # a re-run converges

    assert [v["version"] for v in shown(runner, "models", "show", "ep")] == ["v1"]
    artifacts_after = {p.name for p in (home / "artifacts").iterdir() if not p.name.startswith(".")}
    assert len(artifacts_before - artifacts_after) == 1
    # The same model uploaded again is a new version: v2 stays the deleted one's number.
    assert invoke(runner, "deploy", str(two_versions[1]), "--name", "ep").exit_code == 0
    assert [v["version"] for v in shown(runner, "models", "show", "ep")] == ["v1", "v3"]


def test_models_delete_needs_name_at_version(runner):
    result = invoke(runner, "models", "delete", "ep")
    assert result.exit_code == 2 and "NAME@VERSION" in result.stderr
