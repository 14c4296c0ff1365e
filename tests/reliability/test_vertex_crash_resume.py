"""Crash-resume on Vertex AI: `cloudeploy deploy` / `cloudeploy traffic` SIGKILLed at each
step boundary, then run again, converge with no duplicate and no orphan resource.

The killed command runs as a subprocess against the in-process emulator;
``CLOUDEPLOY_TEST_CRASH_AT`` names the boundary where the provider kills itself.
The re-run and the run after it go through the same CLI in-process (no crash
point is set there, and it saves an interpreter start each). After the re-run:
one ``cloudeploy-managed`` endpoint whose deployed models are exactly the
intended split's, one model version per package, and a further run makes no
changing Vertex AI call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import Profile, write_profile
from cloudeploy.providers.vertex import VertexProvider
from cloudeploy.testing.conformance import fitted_classifier

BUCKET = "cloudeploy-test"
CHANGING = ("Create", "Update", "Delete", "Deploy", "Undeploy", "Mutate", "Upload", "Merge")


@pytest.fixture
def emu(vertex_emulator):
    return vertex_emulator


@pytest.fixture
def settings(emu):
    return emu.profile_settings(bucket=BUCKET)


@pytest.fixture
def run(settings, tmp_path):
    """run(*cli_args, crash_at=None) -> (exit code, stdout) of `cloudeploy ...` with profile "emu".

    With ``crash_at`` the command runs in a subprocess that kills itself there.
    """
    config = write_profile("emu", "vertex", settings, path=tmp_path / "cloudeploy.toml")
    env = {"CLOUDEPLOY_CONFIG": str(config), "CLOUDEPLOY_PROFILE": None}

    def run_cli(*args: str, crash_at: str | None = None) -> tuple[int, str]:
        argv = [*args, "--profile", "emu", "--output", "json"]
        if crash_at is None:
            result = CliRunner().invoke(cli, argv, env=env)
            return result.exit_code, result.output
        child_env = {**os.environ, "CLOUDEPLOY_CONFIG": str(config)}
        child_env.pop("CLOUDEPLOY_PROFILE", None)
        child_env["CLOUDEPLOY_TEST_CRASH_AT"] = crash_at
        done = subprocess.run(
            [sys.executable, "-m", "cloudeploy.cli", *argv],
            env=child_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    return run_cli


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Package directories of two model versions, built once: packaging is not under test."""
    from cloudeploy.packaging import build_package

    root = tmp_path_factory.mktemp("packages")
    return [
        str(build_package(fitted_classifier(seed), root / f"package-{seed}", name="house").path)
        for seed in (0, 1)
    ]


def rest(emu, path: str, **params) -> dict:
    parent = f"projects/{emu.project}/locations/{emu.region}"
    return httpx.get(f"{emu.api_endpoint}/v1/{parent}/{path}", params=params).json()


def changing_calls(emu) -> dict[str, int]:
    return {method: n for method, n in emu.calls().items() if method.startswith(CHANGING)}


def finish_operations(emu, *resources: str) -> None:
    """Poll every unfinished operation on ``resources`` until done, as time would on Vertex AI.

    The emulator only advances an operation when asked about it; one that a killed
    run left behind would otherwise never show its effect (a duplicate, say).
    """
    for resource in resources:
        for operation in rest(emu, f"{resource}/operations").get("operations", []):
            name = operation["name"].split("/locations/", 1)[1].split("/", 1)[1]
            for _ in range(200):
                if rest(emu, name).get("done"):
                    break
                time.sleep(0.05)


def assert_converged(emu, endpoint: str, traffic: dict[str, int], packages: int) -> None:
    finish_operations(emu, f"endpoints/{endpoint}", "models/house")
    managed = {"filter": "labels.cloudeploy-managed=true"}
    endpoints = rest(emu, "endpoints", **managed).get("endpoints", [])
    assert [e["name"].rsplit("/", 1)[-1] for e in endpoints] == [endpoint]
    deployed = {d["id"]: d["modelVersionId"] for d in endpoints[0].get("deployedModels", [])}
    served = {f"v{deployed[i]}": int(p) for i, p in endpoints[0].get("trafficSplit", {}).items()}
    assert served == traffic
    assert sorted(f"v{v}" for v in deployed.values()) == sorted(traffic)
    models = rest(emu, "models", **managed).get("models", [])
    assert [m["name"].rsplit("/", 1)[-1] for m in models] == ["house"]
    versions = rest(emu, "models/house:listVersions").get("models", [])
    assert len(versions) == packages


def assert_rerun_changes_nothing(emu, run, *args: str) -> None:
    before = changing_calls(emu)
    code, output = run(*args)
    assert code == 0, output
    assert changing_calls(emu) == before


@pytest.mark.parametrize(
    "boundary",
    [
        "after_upload_started",
        "after_upload",
        "after_create_endpoint_started",
        "after_create_endpoint",
        "after_deploy_started",
        "after_deploy",
    ],
)
def test_first_deploy_killed_at_a_boundary_converges_on_rerun(emu, run, model_files, boundary):
    args = ("deploy", model_files[0], "--name", "house")
    code, output = run(*args, crash_at=f"vertex.deploy.{boundary}")
    assert code == -signal.SIGKILL, output
    code, output = run(*args)
    assert code == 0, output
    assert_converged(emu, "house", {"v1": 100}, packages=1)
    assert_rerun_changes_nothing(emu, run, *args)


@pytest.fixture
def serving_v1(settings, model_files):
    """Endpoint "house" serving v1 (deployed in-process: only the next command is under test)."""
    provider = VertexProvider(Profile(name="emu", provider="vertex", settings=settings))
    v1 = provider.upload_model(model_files[0], "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1)
    return provider


@pytest.mark.parametrize(
    "boundary",
    [
        "after_upload_started",
        "after_upload",
        "after_record",
        "after_deploy_started",
        "after_deploy",
    ],
)
def test_second_deploy_killed_at_a_boundary_converges_on_rerun(
    emu, run, model_files, serving_v1, boundary
):
    args = ("deploy", model_files[1], "--name", "house", "--traffic", "20")
    code, output = run(*args, crash_at=f"vertex.deploy.{boundary}")
    assert code == -signal.SIGKILL, output
    code, output = run(*args)
    assert code == 0, output
    assert json.loads(output)["version"] == "v2"
    assert_converged(emu, "house", {"v1": 80, "v2": 20}, packages=2)
    assert serving_v1.previous_traffic("house").to_dict() == {"v1": 100}
    assert_rerun_changes_nothing(emu, run, *args)


def test_set_traffic_killed_after_the_update_converges_on_rerun(emu, run, model_files, serving_v1):
    v2 = serving_v1.upload_model(model_files[1], "house")
    serving_v1.deploy("house", v2, traffic=0)
    args = ("traffic", "house", "v1=50", "v2=50")
    code, output = run(*args, crash_at="vertex.set_traffic.after_update")
    assert code == -signal.SIGKILL, output
    code, output = run(*args)
    assert code == 0, output
    assert_converged(emu, "house", {"v1": 50, "v2": 50}, packages=2)
    assert serving_v1.previous_traffic("house").to_dict() == {"v1": 100, "v2": 0}
    assert_rerun_changes_nothing(emu, run, *args)


def test_a_deploy_killed_while_vertex_still_deploys_is_awaited_by_the_rerun_not_repeated(
    emu, run, model_files, serving_v1
):
    # Vertex AI takes minutes to deploy; the hold keeps the killed run's deploy
    # running (not listed, no traffic) well past the moment the re-run reads the
    # endpoint, so only waiting for the pending operation avoids a second deploy.
    deploys_before = emu.calls("DeployModel")
    emu.faults.add("DeployModel", "hold", seconds=3, count=1)
    args = ("deploy", model_files[1], "--name", "house", "--traffic", "20")
    code, output = run(*args, crash_at="vertex.deploy.after_deploy_started")
    assert code == -signal.SIGKILL, output
    pending = rest(emu, "endpoints/house/operations")["operations"]
    assert [o["done"] for o in pending if "DeployModel" in o["metadata"]["@type"]][-1] is False
    code, output = run(*args)
    assert code == 0, output
    assert emu.calls("DeployModel") - deploys_before == 1
    assert_converged(emu, "house", {"v1": 80, "v2": 20}, packages=2)


def test_a_rerun_while_the_deploy_still_runs_waits_for_it_instead_of_deploying_again(
    emu, settings, model_files
):
    provider = VertexProvider(Profile(name="emu", provider="vertex", settings=settings))
    v1 = provider.upload_model(model_files[0], "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1, wait=False)  # as if killed while the model server starts
    status = provider.deploy("house", v1, timeout=60)
    assert [d.version for d in status.deployments] == ["v1"]
    assert emu.calls("DeployModel") == 1
