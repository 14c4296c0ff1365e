"""``cloudeploy emulator vertex`` as a user runs it: a process that prints where it is."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys

import httpx
import pytest


@pytest.fixture
def run_emulator():
    """Start the CLI with extra arguments; returns (process, first stdout line as JSON)."""
    started = []

    def run(*args: str):
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloudeploy.cli",
                "emulator",
                "vertex",
                "--output",
                "json",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the emulator printed nothing within 60 s"
        return process, json.loads(process.stdout.readline())

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_json_line_names_the_endpoints_project_and_region(run_emulator):
    _, ready = run_emulator("--project", "demo", "--region", "europe-west4")
    assert ready["api_endpoint"].startswith("http://127.0.0.1:")
    assert ready["storage_endpoint"].startswith("http://127.0.0.1:")
    assert (ready["project"], ready["region"]) == ("demo", "europe-west4")


def test_the_printed_api_endpoint_answers(run_emulator):
    _, ready = run_emulator()
    reply = httpx.get(
        f"{ready['api_endpoint']}/v1/projects/test-project/locations/us-central1/endpoints"
    )
    assert reply.status_code == 200


def test_the_profile_bucket_exists_in_the_storage_emulator(run_emulator):
    _, ready = run_emulator("--bucket", "my-staging")
    reply = httpx.get(f"{ready['storage_endpoint']}/storage/v1/b/my-staging")
    assert ready["profile"]["staging_bucket"] == "gs://my-staging"
    assert reply.status_code == 200


def test_write_profile_writes_a_loadable_vertex_profile(run_emulator, tmp_path):
    from cloudeploy.config import load_profile

    config = tmp_path / "cloudeploy.toml"
    _, ready = run_emulator("--write-profile", "emu", "--config", str(config))
    profile = load_profile("emu", path=config)
    assert profile.provider == "vertex"
    assert profile.settings["api_endpoint"] == ready["api_endpoint"]
    assert profile.settings["storage_endpoint"] == ready["storage_endpoint"]


def test_sigterm_stops_it_cleanly(run_emulator):
    process, _ = run_emulator()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
