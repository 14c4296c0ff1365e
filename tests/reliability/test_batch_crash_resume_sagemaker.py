"""Crash-resume of `cloudeploy batch` on SageMaker: SIGKILLed at each step boundary, then run again.

The killed command runs as a subprocess against the in-process emulation;
``CLOUDEPLOY_TEST_CRASH_AT`` names the boundary where the runner kills itself.
The re-run and the run after it go through the same CLI in-process (no crash
point is set there). After the re-run: one ``cloudeploy-managed`` transform job
and one SageMaker model, the output equals an uncrashed run's, the staged input
was not uploaded again, and a further run makes no changing SageMaker call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import write_profile

BUCKET = "cloudeploy-test"
CHANGING = ("Create", "Update", "Delete", "Put", "Add", "Register", "Stop", "Start")
BOUNDARIES = ["after_register", "after_stage", "after_model", "after_create_job", "after_job_done",
              "after_write_output"]


def write_input(path, rows: int = 30) -> str:
    """A CSV of ``rows`` rows: an ``id`` column, then the conformance classifier's four features."""
    import pandas as pd

    from cloudeploy.testing.conformance import sample_instances

    frame = pd.DataFrame(sample_instances(rows, seed=5), columns=["x0", "x1", "x2", "x3"])
    frame.insert(0, "id", [f"house-{i}" for i in range(rows)])
    frame.to_csv(path, index=False)
    return str(path)


def cli_runner(provider: str, settings: dict, root):
    """run(*cli_args, crash_at=None) -> (exit code, output) of `cloudeploy ...` with profile "emu".

    One CLOUDEPLOY_HOME under ``root`` for every run. With ``crash_at`` the
    command runs in a subprocess that kills itself there; otherwise in-process.
    """
    config = write_profile("emu", provider, settings, path=root / "cloudeploy.toml")
    env = {"CLOUDEPLOY_CONFIG": str(config), "CLOUDEPLOY_HOME": str(root / "home")}

    def run(*args: str, crash_at: str | None = None) -> tuple[int, str]:
        argv = [*args, "--profile", "emu", "--output", "json"]
        if crash_at is None:
            result = CliRunner().invoke(cli, argv, env={**env, "CLOUDEPLOY_PROFILE": None})
            return result.exit_code, result.output
        child_env = {**os.environ, **env, "CLOUDEPLOY_TEST_CRASH_AT": crash_at}
        child_env.pop("CLOUDEPLOY_PROFILE", None)
        done = subprocess.run([sys.executable, "-m", "cloudeploy.cli", *argv], env=child_env,
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    return run


def batch_args(package: str, source: str, destination) -> tuple[str, ...]:
    return ("batch", package, "--source", source, "--destination", str(destination), "--id-column", "id")


def read_output(path):
    import pandas as pd

    return pd.read_csv(path, dtype={"id": str})


def house_package(root) -> str:
    """A package directory of model "house" under ``root``, built once per module: packaging is not under test."""
    from cloudeploy.packaging import build_package
    from cloudeploy.testing.conformance import fitted_classifier

    return str(build_package(fitted_classifier(0), root / "house", name="house").path)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return house_package(tmp_path_factory.mktemp("package"))


def uncrashed_run(emulator, provider: str, package: str, root):
    """(input CSV, the output of a run on ``emulator`` that was not killed)."""
    source = write_input(root / "houses.csv")
    emulator.reset()
    run = cli_runner(provider, emulator.profile_settings(bucket=BUCKET), root)
    code, output = run(*batch_args(package, source, root / "out.csv"))
    assert code == 0, output
    return source, read_output(root / "out.csv")


@pytest.fixture(scope="module")
def uncrashed(sagemaker_emulator_session, package, tmp_path_factory):
    return uncrashed_run(sagemaker_emulator_session, "sagemaker", package, tmp_path_factory.mktemp("uncrashed"))


@pytest.fixture
def emu(uncrashed, sagemaker_emulator):
    return sagemaker_emulator


@pytest.fixture
def run(emu, tmp_path):
    return cli_runner("sagemaker", emu.profile_settings(bucket=BUCKET), tmp_path)


def managed(sm, lister: str, key: str, name_key: str, arn_key: str) -> list[str]:
    """Names of the resources ``sm.<lister>()`` lists that carry the cloudeploy-managed tag."""
    names = []
    for item in getattr(sm, lister)()[key]:
        if {"Key": "cloudeploy-managed", "Value": "true"} in sm.list_tags(ResourceArn=item[arn_key]).get("Tags", []):
            names.append(item[name_key])
    return names


def changing_calls(emu) -> dict[str, int]:
    return {op: n for op, n in emu.calls().items() if op.startswith(CHANGING)}


def staged_objects(emu) -> dict[str, object]:
    """Every staged input object and when it was last written."""
    listed = emu.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: o["LastModified"] for o in listed if "/input/part-" in o["Key"]}


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_batch_killed_at_a_boundary_converges_on_rerun(emu, run, package, uncrashed, tmp_path, boundary):
    source, expected = uncrashed
    args = batch_args(package, source, tmp_path / "out.csv")
    code, output = run(*args, crash_at=f"sagemaker.batch.{boundary}")
    assert code == -signal.SIGKILL, output
    staged = staged_objects(emu)

    code, output = run(*args)

    assert code == 0, output
    sm = emu.client("sagemaker")
    assert len(managed(sm, "list_transform_jobs", "TransformJobSummaries", "TransformJobName", "TransformJobArn")) == 1
    assert managed(sm, "list_models", "Models", "ModelName", "ModelArn") == ["house-v1"]
    assert [p["ModelPackageVersion"] for p in sm.list_model_packages(ModelPackageGroupName="house")
            ["ModelPackageSummaryList"]] == [1]
    assert read_output(tmp_path / "out.csv").to_dict("list") == expected.to_dict("list")
    if boundary != "after_register":  # staged before the crash: not uploaded again
        assert staged
        assert staged_objects(emu) == staged
    assert_rerun_changes_nothing(emu, run, *args)


def assert_rerun_changes_nothing(emu, run, *args: str) -> None:
    calls, staged = changing_calls(emu), staged_objects(emu)
    assert calls, "the runs before made changing calls: they are counted"
    code, output = run(*args)
    assert code == 0, output
    assert changing_calls(emu) == calls
    assert staged_objects(emu) == staged
