"""``cloudeploy emulator sagemaker`` as a separate process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import boto3
import pytest


@pytest.fixture
def emulator_process():
    started = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "cloudeploy.cli", "emulator", "sagemaker", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stdout.close()
        process.stderr.close()


def test_json_output_is_one_line_pointing_at_a_working_emulation(emulator_process):
    process = emulator_process("--output", "json")
    ready = json.loads(process.stdout.readline())
    assert ready["region"] == "us-east-1"
    sm = boto3.client(
        "sagemaker", endpoint_url=ready["endpoint_url"], region_name=ready["region"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    assert sm.list_endpoints()["Endpoints"] == []


def test_printed_profile_holds_the_bucket_and_a_role(emulator_process):
    process = emulator_process("--output", "json", "--bucket", "ci-models")
    profile = json.loads(process.stdout.readline())["profile"]
    assert (profile["provider"], profile["bucket"]) == ("sagemaker", "ci-models")
    assert profile["role_arn"].startswith("arn:aws:iam::")


def test_write_profile_adds_a_loadable_profile(emulator_process, tmp_path):
    from cloudeploy.config import load_profile

    config = tmp_path / "cloudeploy.toml"
    process = emulator_process(
        "--output", "json", "--write-profile", "emu", "--config", str(config)
    )
    ready = json.loads(process.stdout.readline())
    profile = load_profile("emu", path=config)
    assert (profile.provider, profile.get("endpoint_url")) == ("sagemaker", ready["endpoint_url"])


def test_sigterm_stops_the_emulator_cleanly(emulator_process):
    process = emulator_process("--output", "json")
    process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0


def test_invalid_bucket_is_a_clear_error(emulator_process):
    process = emulator_process("--bucket", "x")
    assert process.wait(30) == 2
    assert "cannot prepare bucket 'x'" in process.stderr.read()
