"""Crash-resume on SageMaker: `cloudeploy deploy` / `cloudeploy traffic` SIGKILLed at each
step boundary, then run again, converge with no duplicate and no orphan resource.

Each command runs as a subprocess against the in-process emulation (served over
HTTP); ``CLOUDEPLOY_TEST_CRASH_AT`` names the boundary where the provider kills
itself. After the re-run: one endpoint serving the intended split, exactly the
endpoint configs and models that it uses (counted by the ``cloudeploy-managed``
tag), and a further re-run makes no changing SageMaker call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from cloudeploy.config import Profile, write_profile
from cloudeploy.providers.sagemaker import SageMakerProvider
from cloudeploy.testing.conformance import fitted_classifier

BUCKET = "cloudeploy-test"
CHANGING = ("Create", "Update", "Delete", "Put", "Add", "Register", "Stop", "Start")


@pytest.fixture
def emu(sagemaker_emulator):
    return sagemaker_emulator


@pytest.fixture
def settings(emu):
    return emu.profile_settings(bucket=BUCKET)


@pytest.fixture
def run(settings, tmp_path):
    """run(*cli_args, crash_at=None) -> CompletedProcess of `cloudeploy ...` with profile "emu"."""
    config = write_profile("emu", "sagemaker", settings, path=tmp_path / "cloudeploy.toml")
    env = {**os.environ, "CLOUDEPLOY_CONFIG": str(config)}
    env.pop("CLOUDEPLOY_PROFILE", None)

    def run_cli(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
        child_env = {**env, "CLOUDEPLOY_TEST_CRASH_AT": crash_at} if crash_at else env
        return subprocess.run(
            [sys.executable, "-m", "cloudeploy.cli", *args, "--profile", "emu", "--output", "json"],
            env=child_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

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


def managed(sm, kind: str) -> list[str]:
    """Names of the SageMaker resources of ``kind`` tagged cloudeploy-managed."""
    lister, key, name_key, arn_key = {
        "endpoint": ("list_endpoints", "Endpoints", "EndpointName", "EndpointArn"),
        "config": (
            "list_endpoint_configs",
            "EndpointConfigs",
            "EndpointConfigName",
            "EndpointConfigArn",
        ),
        "model": ("list_models", "Models", "ModelName", "ModelArn"),
    }[kind]
    names = []
    for item in getattr(sm, lister)()[key]:
        tags = sm.list_tags(ResourceArn=item[arn_key]).get("Tags", [])
        if {"Key": "cloudeploy-managed", "Value": "true"} in tags:
            names.append(item[name_key])
    return sorted(names)


def changing_calls(emu) -> dict[str, int]:
    return {op: n for op, n in emu.calls().items() if op.startswith(CHANGING)}


def assert_converged(emu, endpoint: str, traffic: dict[str, int]) -> None:
    sm = emu.client("sagemaker")
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    served = {v["VariantName"]: round(v["CurrentWeight"]) for v in described["ProductionVariants"]}
    assert served == traffic
    assert managed(sm, "endpoint") == [endpoint]
    assert managed(sm, "config") == [described["EndpointConfigName"]]
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert managed(sm, "model") == sorted(v["ModelName"] for v in config["ProductionVariants"])


def assert_rerun_changes_nothing(emu, run, *args: str) -> None:
    before = changing_calls(emu)
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert changing_calls(emu) == before


@pytest.mark.parametrize(
    "boundary",
    ["after_create_model", "after_create_config", "after_create_endpoint", "after_settle"],
)
def test_first_deploy_killed_at_a_boundary_converges_on_rerun(emu, run, model_files, boundary):
    args = ("deploy", model_files[0], "--name", "house")
    crashed = run(*args, crash_at=f"sagemaker.deploy.{boundary}")
    assert crashed.returncode == -signal.SIGKILL
    resumed = run(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert_converged(emu, "house", {"v1": 100})
    assert_rerun_changes_nothing(emu, run, *args)


@pytest.fixture
def serving_v1(settings, model_files):
    """Endpoint "house" serving v1 (deployed in-process: only the next command is under test)."""
    provider = SageMakerProvider(Profile(name="emu", provider="sagemaker", settings=settings))
    v1 = provider.upload_model(model_files[0], "house")
    provider.create_endpoint("house", model="house")
    provider.deploy("house", v1)
    return provider


@pytest.mark.parametrize(
    "boundary",
    ["after_record", "after_create_config", "after_update_endpoint", "after_settle"],
)
def test_second_deploy_killed_at_a_boundary_converges_on_rerun(
    emu, run, model_files, serving_v1, boundary
):
    args = ("deploy", model_files[1], "--name", "house", "--traffic", "20")
    crashed = run(*args, crash_at=f"sagemaker.deploy.{boundary}")
    assert crashed.returncode == -signal.SIGKILL
    resumed = run(*args)
    assert resumed.returncode == 0, resumed.stderr
    version = json.loads(resumed.stdout)["version"]
    assert_converged(emu, "house", {"v1": 80, version: 20})
    assert_rerun_changes_nothing(emu, run, *args)


@pytest.mark.parametrize("boundary", ["after_record", "after_update"])
def test_set_traffic_killed_at_a_boundary_converges_on_rerun(
    emu, run, model_files, serving_v1, boundary
):
    deployed = run("deploy", model_files[1], "--name", "house", "--traffic", "0")
    assert deployed.returncode == 0, deployed.stderr
    version = json.loads(deployed.stdout)["version"]
    args = ("traffic", "house", "v1=50", f"{version}=50")
    crashed = run(*args, crash_at=f"sagemaker.set_traffic.{boundary}")
    assert crashed.returncode == -signal.SIGKILL
    resumed = run(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert_converged(emu, "house", {"v1": 50, version: 50})
    assert_rerun_changes_nothing(emu, run, *args)
