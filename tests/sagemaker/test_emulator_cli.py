"""``cloudeploy emulator sagemaker`` as a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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


def test_a_taken_port_is_a_clear_error(emulator_process):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = emulator_process("--port", str(taken.getsockname()[1]))
        assert process.wait(30) == 2
    assert "cannot listen on 127.0.0.1" in process.stderr.read()


def test_invalid_bucket_is_a_clear_error(emulator_process):
    process = emulator_process("--bucket", "x")
    assert process.wait(30) == 2
    assert "cannot prepare bucket 'x'" in process.stderr.read()


def test_a_time_scale_outside_0_to_1_is_a_clear_error(emulator_process):
    process = emulator_process("--time-scale", "5")
    assert process.wait(30) == 2
    assert "--time-scale must be > 0 and <= 1" in process.stderr.read()


def test_fault_option_injects_the_fault_into_the_running_emulator(emulator_process):
    from botocore.config import Config
    from botocore.exceptions import ClientError

    process = emulator_process("--output", "json", "--fault", "ListEndpoints:throttle:count=1")
    ready = json.loads(process.stdout.readline())
    assert [(f["operation"], f["kind"], f["count"]) for f in ready["faults"]] == [
        ("ListEndpoints", "throttle", 1)
    ]
    sm = boto3.client(
        "sagemaker", endpoint_url=ready["endpoint_url"], region_name=ready["region"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(ClientError, match="ThrottlingException"):
        sm.list_endpoints()
    assert sm.list_endpoints()["Endpoints"] == []


def test_faults_of_a_running_emulator_change_over_http(emulator_process):
    import httpx
    from botocore.exceptions import ClientError

    process = emulator_process("--output", "json")
    ready = json.loads(process.stdout.readline())
    faults_url = ready["endpoint_url"] + "/moto-api/cloudeploy/faults"
    added = httpx.post(faults_url, json={"faults": ["ListModels:transient"]})
    assert added.status_code == 200
    sm = boto3.client(
        "sagemaker", endpoint_url=ready["endpoint_url"], region_name=ready["region"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        sm.list_models()
    httpx.delete(faults_url)
    assert sm.list_models()["Models"] == []
    assert httpx.get(faults_url).json()["calls"]["ListModels"] >= 2


def test_a_bad_fault_option_is_a_clear_error(emulator_process):
    process = emulator_process("--fault", "UpdateEndpoint:explode")
    assert process.wait(30) == 2
    errors = process.stderr.read()
    assert "unknown fault kind 'explode'" in errors
    assert "Traceback" not in errors


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stopping_the_emulator_stops_its_model_servers(emulator_process, tmp_path):
    from tests.sagemaker.conftest import INSTANCE, package_tarball, settle

    process = emulator_process("--output", "json")
    ready = json.loads(process.stdout.readline())
    profile = ready["profile"]
    clients = {
        name: boto3.client(
            name,
            endpoint_url=ready["endpoint_url"],
            region_name=ready["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )  # fmt: skip
        for name in ("s3", "sagemaker")
    }
    clients["s3"].put_object(
        Bucket=profile["bucket"], Key="m/model.tar.gz", Body=package_tarball(0, tmp_path)
    )
    sm = clients["sagemaker"]
    sm.create_model(
        ModelName="m", ExecutionRoleArn=profile["role_arn"],
        PrimaryContainer={"Image": profile["serving_image"], "ModelDataUrl": f"s3://{profile['bucket']}/m/model.tar.gz"},
    )  # fmt: skip
    sm.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "v1", "ModelName": "m", "InstanceType": INSTANCE}],
    )
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    assert settle(sm, "ep")["EndpointStatus"] == "InService"
    below = descendants(process.pid)
    assert below
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in below)
