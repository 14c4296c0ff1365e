"""Crash-resume of `cloudeploy batch` on Vertex AI: SIGKILLed at each step boundary, then run again.

The killed command runs as a subprocess against the in-process emulator;
``CLOUDEPLOY_TEST_CRASH_AT`` names the boundary where the runner kills itself.
The re-run and the run after it go through the same CLI in-process. After the
re-run: one ``cloudeploy-managed`` batch prediction job and one model version,
the output equals an uncrashed run's, the staged input was not uploaded again,
and a further run makes no changing Vertex AI call and writes no Cloud Storage
object.
"""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.reliability.test_batch_crash_resume_sagemaker import (
    batch_args,
    cli_runner,
    house_package,
    read_output,
    uncrashed_run,
)

BUCKET = "cloudeploy-test"
CHANGING = ("Create", "Update", "Delete", "Deploy", "Undeploy", "Mutate", "Upload", "Merge", "Cancel")
BOUNDARIES = ["after_register", "after_stage", "after_create_job", "after_job_done", "after_write_output"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return house_package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def uncrashed(vertex_emulator_session, package, tmp_path_factory):
    return uncrashed_run(vertex_emulator_session, "vertex", package, tmp_path_factory.mktemp("uncrashed"))


@pytest.fixture
def emu(uncrashed, vertex_emulator):
    return vertex_emulator


@pytest.fixture
def run(emu, tmp_path):
    return cli_runner("vertex", emu.profile_settings(bucket=BUCKET), tmp_path)


def rest(emu, path: str, **params) -> dict:
    parent = f"projects/{emu.project}/locations/{emu.region}"
    return httpx.get(f"{emu.api_endpoint}/v1/{parent}/{path}", params=params).json()


def managed(emu, collection: str) -> list[dict]:
    """The resources of ``collection`` labelled cloudeploy-managed."""
    return rest(emu, collection, filter="labels.cloudeploy-managed=true").get(collection, [])


def changing_calls(emu) -> dict[str, int]:
    return {method: n for method, n in emu.calls().items() if method.startswith(CHANGING)}


def objects(emu, under: str = "") -> dict[str, str]:
    """Generation of every Cloud Storage object of the bucket whose name contains ``under``."""
    listed = httpx.get(f"{emu.storage_endpoint}/storage/v1/b/{BUCKET}/o").json().get("items", [])
    return {o["name"]: o["generation"] for o in listed if under in o["name"]}


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_batch_killed_at_a_boundary_converges_on_rerun(emu, run, package, uncrashed, tmp_path, boundary):
    source, expected = uncrashed
    args = batch_args(package, source, tmp_path / "out.csv")
    code, output = run(*args, crash_at=f"vertex.batch.{boundary}")
    assert code == -signal.SIGKILL, output
    staged = objects(emu, "/input/part-")

    code, output = run(*args)

    assert code == 0, output
    assert len(managed(emu, "batchPredictionJobs")) == 1
    assert [m["name"].rsplit("/", 1)[-1] for m in managed(emu, "models")] == ["house"]
    assert len(rest(emu, "models/house:listVersions").get("models", [])) == 1
    assert read_output(tmp_path / "out.csv").to_dict("list") == expected.to_dict("list")
    if boundary != "after_register":  # staged before the crash: not uploaded again
        assert staged
        assert objects(emu, "/input/part-") == staged
    assert_rerun_changes_nothing(emu, run, *args)


def assert_rerun_changes_nothing(emu, run, *args: str) -> None:
    calls, stored = changing_calls(emu), objects(emu)
    assert calls, "the runs before made changing calls: they are counted"
    code, output = run(*args)
    assert code == 0, output
    assert changing_calls(emu) == calls
    assert objects(emu) == stored
